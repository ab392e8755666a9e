"""Benchmark: the platform with thousands of communes on one PostgreSQL server.

    python bench/platform_scale.py [--sizes 1000,5000] [--samples 15] [--batch 2] [--keep-db] [--resume]

Grows one database to each size in turn (communes cloned from the template, as provisioning
does, --batch clones per transaction (each clone locks its ~225 new relations until the commit:
PostgreSQL's lock table holds ~6,400 by default, for every session of the server), without the administrator's invitation), then measures
at that size:

- provisioning one commune (operators.services.provision_commune, invitation included): p50
  and p95 of --samples communes;
- a no-op `migrate_communes` over every commune;
- the operators' communes list (GET /operateur/) and health page (GET /operateur/sante/),
  median of 3 after one warm-up (django.test.Client, force_login);
- the footprint: database size, relations in pg_class, and one empty commune's relations and
  bytes;
- on a new connection, the first read of an account (what every request's session does) and
  of the family's invoices across 5 communes (family.router: its scope, then the invoices); an
  account row updated (as every sign-in does) and an account deleted;
- the triggers on the public identity tables, which must not grow with the communes (no
  foreign key from a commune schema points at them: tenants.references).

It exits 1 when the triggers grow or a page does not answer 200, never on time. It runs in its
own database (`foyer_bench_scale`) on DATABASE_URL (or the embedded PostgreSQL), dropped and
created again, dropped at the end unless --keep-db.
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
from benchdb import percentile, run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_scale"
IDENTITY_TABLES = ("shared_identity_account", "shared_identity_family", "shared_identity_child")


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


def run(args) -> int:
    import datetime as dt

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import override_settings

    from family.router import get_family_scope, list_family_invoices
    from operators.services import provision_commune
    from shared_identity.models import Account, Child, Family, Guardian, Membership
    from tenants import schemas
    from tenants.models import Commune
    from tests.conftest import login_verified

    quiet = io.StringIO()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=quiet)
    schemas.ensure_template_schema()
    operator = Account.objects.filter(email="operateur@bench.test").first() or Account.objects.create_user(
        email="operateur@bench.test", password="x" * 12, is_platform_operator=True
    )
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
    client = Client()
    login_verified(client, operator)  # operators sign in with their second factor

    def scalar(sql: str, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def identity_triggers() -> int:
        return scalar(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[])",
            [[f"public.{table}" for table in IDENTITY_TABLES]],
        )

    def grow_to(size: int) -> None:
        count = Commune.objects.count()
        while count < size:
            batch = min(args.batch, size - count)
            with transaction.atomic():
                for n in range(count, count + batch):
                    commune = Commune.objects.create(name=f"Commune {n}", slug=f"c{n}", schema_name=f"c_c{n}")
                    schemas.clone_template(commune.schema_name)
            count += batch

    # The family of 5 communes whose invoices are read on a new connection.
    parent = Account.objects.filter(email="parent@bench.test").first()
    if parent is None:
        family = Family.objects.create(name="Martin")
        parent = Account.objects.create_user(email="parent@bench.test", password="x" * 12)
        Guardian.objects.create(
            family=family, account=parent, first_name="Camille", last_name="Martin", email="p@b.t"
        )
        Child.objects.create(
            family=family, first_name="Léa", last_name="Martin", birth_date=dt.date(2018, 1, 1)
        )
        grow_to(5)
        for n, commune in enumerate(Commune.objects.order_by("pk")[:5]):
            Membership.objects.create(family=family, commune=commune, dossier_number=f"F{n}", status="active")
    triggers = identity_triggers()

    failures = []
    rows = []
    for size in args.sizes:
        print(f"growing to {size} communes…", flush=True)
        started = time.perf_counter()
        grow_to(size - args.samples)
        grown = time.perf_counter() - started
        load_before = os.getloadavg()[0]
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            if args.profile:
                import cProfile

                cProfile.runctx(
                    "provision_commune(name='Profil', slug=f'profil-{size}', admin_email='maire@bench.test')",
                    globals(),
                    {"provision_commune": provision_commune, "size": size},
                    sort="cumulative",
                )
            provisioning = [
                timed(
                    lambda n=n, size=size: provision_commune(
                        name=f"Nouvelle {size} {n}",
                        slug=f"n{size}-{n}-{time.time_ns()}",
                        admin_email="maire@bench.test",
                    )
                )
                for n in range(args.samples)
            ]
        total = Commune.objects.count()
        noop = timed(
            lambda: call_command("migrate_communes", skip_public=True, no_progress=True, stdout=quiet)
        )
        pages = {}
        for name, url in (("list", "/operateur/"), ("health", "/operateur/sante/")):
            response = client.get(url)
            if response.status_code != 200:
                failures.append(f"{url} answered {response.status_code} at {total} communes")
            pages[name] = statistics.median(timed(lambda url=url: client.get(url)) for _ in range(3))
        connection.close()
        first_account = timed(lambda: Account.objects.get(pk=parent.pk))
        connection.close()
        first_invoices = timed(lambda: list_family_invoices(scope=get_family_scope(parent)))
        update = timed(
            lambda: Account.objects.filter(pk=parent.pk).update(last_login=dt.datetime.now(dt.UTC))
        )
        doomed = Account.objects.create_user(email=f"depart{total}@bench.test", password="x" * 12)
        delete = timed(lambda doomed=doomed: Account.objects.filter(pk=doomed.pk).delete())
        now_triggers = identity_triggers()
        if now_triggers != triggers:
            failures.append(
                f"{now_triggers} triggers on the identity tables at {total} communes, {triggers} at 5"
            )
        empty = Commune.objects.order_by("-pk").first().schema_name
        rows.append(
            {
                "communes": f"{total:,}",
                "grown in": f"{grown:.0f} s",
                "provision p50": f"{statistics.median(provisioning):.0f} ms",
                "provision p95": f"{percentile(provisioning, 95):.0f} ms",
                "no-op migrate_communes": f"{noop / 1000:.2f} s",
                "operator list": f"{pages['list']:.0f} ms",
                "health page": f"{pages['health']:.0f} ms",
                "database": f"{scalar('SELECT pg_database_size(current_database())') / 2**30:.2f} GB",
                "pg_class": f"{scalar('SELECT count(*) FROM pg_class'):,}",
                "one commune": (
                    f"{scalar('SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s', [empty])} "
                    f"relations, "
                    f"{scalar('SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = %s', [empty, 'r']) / 2**20:.2f} MB"
                ),
                "first account read": f"{first_account:.1f} ms",
                "first invoices (5 communes)": f"{first_invoices:.1f} ms",
                "account update": f"{update:.1f} ms",
                "account delete": f"{delete:.1f} ms",
                "identity triggers": str(now_triggers),
                "load": f"{load_before:.1f}–{os.getloadavg()[0]:.1f}",
            }
        )
        for key, value in rows[-1].items():
            print(f"  {key:28s} {value}", flush=True)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {connection.pg_version // 10000}"
    )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(row[key] for key in keys) + " |")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", type=lambda v: sorted(int(x) for x in v.split(",")))
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile one provisioning per size")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--resume", action="store_true", help="go on with the database a run kept (--keep-db), grown so far"
    )
    parser.add_argument("--database", default=BENCH_DB, help="a long run's own name keeps other runs off it")
    args = parser.parse_args()
    return run_in_bench_database(args.database, run, args, keep_db=args.keep_db, fresh=not args.resume)


if __name__ == "__main__":
    sys.exit(main())
