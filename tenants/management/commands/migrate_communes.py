"""Migrate the public schema, the template schema and only the commune schemas that are behind.

Which schemas are behind is found in one SQL query over all commune schemas; those are
migrated in parallel worker processes, with a progress bar. A no-op run over a thousand
communes costs one query, not a thousand per-schema migrate start-ups.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections
from tqdm import tqdm

from tenants import schemas
from tenants.selectors import list_commune_schema_names


def _migrate_one(schema_name: str) -> tuple[str, int]:
    connections.close_all()
    return schema_name, schemas.migrate_schema(schema_name)


class Command(BaseCommand):
    help = "Migrate public, the template and the commune schemas that are behind (in parallel)."

    def add_arguments(self, parser):
        parser.add_argument("--jobs", type=int, default=max(1, multiprocessing.cpu_count()))
        parser.add_argument("--skip-public", action="store_true")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, jobs: int, skip_public: bool, no_progress: bool, verbosity: int, **options):
        if not skip_public:
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=max(0, verbosity - 1))
        applied = schemas.ensure_template_schema()
        if applied and verbosity:
            self.stdout.write(f"Schéma modèle : {applied} migration(s) appliquée(s).")

        names = list_commune_schema_names()
        behind = schemas.schemas_behind(names)
        if verbosity:
            self.stdout.write(f"{len(names)} commune(s), {len(behind)} à migrer.")
        if not behind:
            return
        connections.close_all()
        progress = tqdm(total=len(behind), unit="commune", disable=no_progress or verbosity == 0)
        failures: list[tuple[str, BaseException]] = []
        if jobs <= 1 or len(behind) == 1:
            for name in behind:
                schemas.migrate_schema(name)
                progress.update()
        else:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(jobs, len(behind)), mp_context=context) as pool:
                futures = {pool.submit(_migrate_one, name): name for name in behind}
                for future in as_completed(futures):
                    try:
                        future.result()
                    except Exception as exc:  # reported below, the others go on
                        failures.append((futures[future], exc))
                    progress.update()
        progress.close()
        for name, exc in failures:
            self.stderr.write(f"{name} : échec de la migration : {exc}")
        if failures:
            raise SystemExit(1)
