"""Benchmark: provisioning a commune, and a no-op migration over many communes.

    python bench/provisioning.py [--runs 5] [--communes 200]

(a) provisioning one commune our way (clone of the migrated template schema, in one
    transaction) vs django-tenants' plain path (CREATE SCHEMA, then migrate it), median of
    --runs runs each;
(b) a no-op migration over --communes communes: `migrate_communes` (one query finds the
    schemas behind) vs django-tenants' stock `migrate_schemas --tenant`.

It runs in its own database (`foyer_bench`) on the configured PostgreSQL (DATABASE_URL, or
the embedded one), which it drops and creates again: your data is not touched.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import use_bench_database  # noqa: E402

BENCH_DB = "foyer_bench"


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--communes", type=int, default=200)
    args = parser.parse_args()

    use_bench_database(BENCH_DB)
    os.environ["DJANGO_SETTINGS_MODULE"] = "foyer.settings.local"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    from operators.services import provision_commune
    from tenants import schemas
    from tenants.models import Commune

    quiet = io.StringIO()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=quiet)
    schemas.ensure_template_schema()

    # (a) provisioning
    ours, plain = [], []
    for run in range(args.runs):
        ours.append(
            timed(
                lambda run=run: provision_commune(
                    name=f"Clone {run}", slug=f"clone-{run}", admin_email="admin@bench.test"
                )
            )
        )

        def plain_path(run=run) -> None:
            commune = Commune.objects.create(
                name=f"Plain {run}", slug=f"plain-{run}", schema_name=f"c_plain_{run}"
            )
            with override_settings(TENANT_CREATION_FAKES_MIGRATIONS=False):
                commune.create_schema(check_if_exists=True, verbosity=0)

        plain.append(timed(plain_path))
    ours_median, plain_median = statistics.median(ours), statistics.median(plain)

    # (b) a no-op migration over many communes
    existing = Commune.objects.count()
    for index in range(max(0, args.communes - existing)):
        commune = Commune.objects.create(
            name=f"Bulk {index}", slug=f"bulk-{index}", schema_name=f"c_bulk_{index}"
        )
        with connection.cursor():
            schemas.clone_template(commune.schema_name)
    total = Commune.objects.count()
    ours_noop = timed(
        lambda: call_command("migrate_communes", skip_public=True, no_progress=True, stdout=quiet)
    )
    stock_noop = timed(
        lambda: call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0, stdout=quiet)
    )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {connection.pg_version // 10000}"
    )
    print(f"(a) provision one commune, median of {args.runs}:")
    print(f"    clone of the template (ours)     {ours_median * 1000:8.0f} ms")
    print(f"    migrate on create (django-tenants) {plain_median * 1000:6.0f} ms")
    print(f"    ratio                            {plain_median / ours_median:8.1f} x faster")
    print(f"(b) no-op migration over {total} communes:")
    print(f"    migrate_communes (ours)          {ours_noop:8.2f} s")
    print(f"    migrate_schemas --tenant (stock) {stock_noop:8.2f} s")
    print(f"    ratio                            {stock_noop / ours_noop:8.1f} x faster")


if __name__ == "__main__":
    main()
