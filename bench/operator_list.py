"""Benchmark: the operators' communes list (and health page) with many communes.

    python bench/operator_list.py [--communes 10,50,200] [--families 20] [--repetitions 30]
                                  [--warmups 3] [--keep-db]

Creates as many communes as the largest size, each a clone of the migrated template schema
(as provisioning does, without the administrator's invitation e-mail), with --families active
families (plus one invited), a régie (one commune in three with a live Mollie key, one in
three a test key, the others none) and two invoicing runs (September issued, October a
draft: the list shows the latest period). For each size it measures in this process
(django.test.Client, force_login, no HTTP server):

- GET /operateur/ (the first page: 50 communes at most): median and p95 over --repetitions
  after --warmups, and the SQL queries of one request (`SET search_path` not counted);
- operators.selectors.list_commune_overviews() alone, and its one UNION ALL over the page's
  schemas alone;
- GET /operateur/sante/ (schemas_behind over every commune schema).

It checks the rows shown (names, families, payment account, last run, "À jour") and that the
list's query count is the same for every size: it exits 1 otherwise (never on time).

It runs in its own database (`foyer_bench_operators`) on the configured PostgreSQL
(DATABASE_URL, or the embedded one), dropped and created again, dropped at the end unless
--keep-db: your data is not touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import percentile, run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_operators"


def sizes_from(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("a list of numbers such as 10,50,200") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes start at 1")
    return sizes


def timings(func, *, repetitions: int, warmups: int) -> list[float]:
    for _warmup in range(warmups):
        func()
    measured = []
    for _repetition in range(repetitions):
        start = time.perf_counter()
        func()
        measured.append(time.perf_counter() - start)
    return measured


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def without_set_search_path(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith("SET SEARCH_PATH")]


# --- Data ---------------------------------------------------------------------------------------------


def add_communes(start: int, stop: int, *, families: int) -> None:
    """Communes start..stop-1: a cloned schema each, families, a régie and two runs."""
    from django.db import connection, transaction

    from billing.models import InvoicingRun, Regie
    from shared_identity.models import Family, Membership
    from tenants import schemas
    from tenants.context import commune_context
    from tenants.models import Commune

    for index in range(start, stop):
        with transaction.atomic():
            commune = Commune.objects.create(
                name=f"Commune {index + 1:04d}",
                slug=f"commune-{index + 1:04d}",
                schema_name=f"c_commune_{index + 1:04d}",
                insee_code=f"{10000 + index}",
            )
            schemas.clone_template(commune.schema_name)
        people = Family.objects.bulk_create(Family(name=f"F{index}-{n}") for n in range(families + 1))
        Membership.objects.bulk_create(
            Membership(
                family=family,
                commune=commune,
                dossier_number=f"F{n:05d}",
                status=Membership.Status.ACTIVE if n < families else Membership.Status.INVITED,
            )
            for n, family in enumerate(people)
        )
        mode = ("live", "test", "")[index % 3]
        with commune_context(commune):
            Regie.objects.update(
                regie_code="RG",
                online_payment=bool(mode),
                mollie_key_encrypted="opaque" if mode else "",
                mollie_mode=mode,
            )
            InvoicingRun.objects.create(
                period_start=dt.date(2026, 9, 1),
                period_end=dt.date(2026, 9, 30),
                status="issued",
                issued_at=dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC),
            )
            InvoicingRun.objects.create(period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31))
        connection.set_schema_to_public()


# --- Measures ---------------------------------------------------------------------------------------------


def check_page(size: int, content: str, *, families: int) -> list[str]:
    errors = []
    text = html.unescape(content)
    rows = re.findall(r"<tr>.*?</tr>", text, flags=re.S)
    shown = [row for row in rows if 'href="/operateur/communes/' in row]
    if len(shown) != min(size, 50):
        errors.append(f"{len(shown)} rows shown, expected {min(size, 50)}")
    if f"{size} collectivité" not in text:
        errors.append(f"the page does not count {size} communes")
    for number, row in enumerate(shown[:3]):
        flat = " ".join(re.sub(r"<[^>]+>", " ", row).split())
        expected_payment = ("Mollie live", "Mollie test", "Aucun compte")[number % 3]
        wanted = [
            f"Commune {number + 1:04d}",
            f"{families} (+1 invitée)",
            "octobre 2026 brouillon",  # the latest run by period, here a draft
            expected_payment,
            "À jour",
        ]
        missing = [part for part in wanted if part not in flat]
        if missing:
            errors.append(f"row {number + 1} lacks {missing}: {flat}")
    return errors


def measure(size: int, *, account, families: int, repetitions: int, warmups: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from operators import selectors
    from tenants.models import Commune
    from tests.conftest import login_verified

    client = Client()
    login_verified(client, account)  # operators sign in with their second factor

    def get(url: str):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return response

    page = timings(lambda: get("/operateur/"), repetitions=repetitions, warmups=warmups)
    with CaptureQueriesContext(connection) as captured:
        response = get("/operateur/")
    queries = without_set_search_path(captured)
    query_ms = [
        float(q["time"]) * 1000
        for q in captured.captured_queries
        if not q["sql"].upper().startswith("SET SEARCH_PATH")
    ]
    overviews = timings(
        lambda: list(selectors.list_commune_overviews().object_list), repetitions=repetitions, warmups=warmups
    )
    first_page = list(selectors.search_communes()[:50])
    readable = [selectors.CommuneOverview(commune=c) for c in first_page]
    union = timings(
        lambda: selectors._read_commune_schemas(readable), repetitions=repetitions, warmups=warmups
    )
    health = timings(lambda: get("/operateur/sante/"), repetitions=max(5, repetitions // 3), warmups=1)
    with CaptureQueriesContext(connection) as health_captured:
        get("/operateur/sante/")
    return {
        "communes": Commune.objects.count(),
        "rows": min(size, 50),
        "queries": len(queries),
        "query_sql": queries,
        "query_ms": query_ms,
        "sql_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
        "page": page,
        "overviews": overviews,
        "union": union,
        "health": health,
        "health_queries": len(without_set_search_path(health_captured)),
        "bytes": len(response.content),
        "errors": check_page(size, response.content.decode(), families=families),
    }


def query_kind(sql: str) -> str:
    if "billing_regie r " in sql:
        return f"one UNION ALL over {sql.count(' UNION ALL ') + 1} commune schemas"
    if "django_migrations" in sql and " UNION ALL " in sql:
        return "migration state (one UNION ALL)"
    if "information_schema" in sql:
        return "schemas with migrations"
    if "COUNT(*)" in sql:
        return "count"
    if sql.startswith('SELECT "tenants_commune"'):
        return "page of communes"
    match = re.search(r'FROM "(\w+)"', sql)
    return match.group(1) if match else sql[:30]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--communes", type=sizes_from, default="10,50,200", help="numbers of communes")
    parser.add_argument("--families", type=int, default=20, help="active families in each commune")
    parser.add_argument("--repetitions", type=int, default=30, help="measured requests per size")
    parser.add_argument("--warmups", type=int, default=3, help="requests before measuring")
    parser.add_argument("--keep-db", action="store_true", help=f"keep {BENCH_DB} afterwards")
    args = parser.parse_args()
    if args.repetitions < 1 or args.warmups < 0 or args.families < 0:
        parser.error("--repetitions must be at least 1, --warmups and --families at least 0")
    return run_in_bench_database(BENCH_DB, run, args, keep_db=args.keep_db)


def run(args) -> int:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from shared_identity.models import Account
    from tenants import schemas

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
    load_at_start = os.getloadavg()[0]
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    schemas.ensure_template_schema()
    account = Account.objects.create_user(
        email="ops@bench.test", password=None, first_name="Olivia", last_name="Ops", is_platform_operator=True
    )
    results, created, setup_seconds = [], 0, 0.0
    for size in args.communes:
        started = time.perf_counter()
        add_communes(created, size, families=args.families)
        setup_seconds += time.perf_counter() - started
        created = size
        results.append(
            measure(
                size,
                account=account,
                families=args.families,
                repetitions=args.repetitions,
                warmups=args.warmups,
            )
        )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {connection.pg_version // 10000} ({connection.settings_dict['HOST'] or 'socket'}); "
        f"load average (1 min) {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"setup {setup_seconds:.1f} s ({created} communes cloned from the template, {args.families} active "
        f"families and 1 invited each); {args.repetitions} repetitions after {args.warmups} warm-ups; times in ms"
    )
    columns = [
        ("communes", 8, lambda r: f"{r['communes']}"),
        ("rows", 4, lambda r: f"{r['rows']}"),
        ("queries", 7, lambda r: f"{r['queries']}"),
        ("SQL ms", 7, lambda r: f"{r['sql_ms']:.1f}"),
        ("page p50", 9, lambda r: ms(statistics.median(r["page"]))),
        ("page p95", 9, lambda r: ms(percentile(r["page"], 95))),
        ("overviews p50", 13, lambda r: ms(statistics.median(r["overviews"]))),
        ("union p50", 9, lambda r: ms(statistics.median(r["union"]))),
        ("health p50", 10, lambda r: ms(statistics.median(r["health"]))),
        ("health q", 8, lambda r: f"{r['health_queries']}"),
        ("HTML kB", 7, lambda r: f"{r['bytes'] / 1024:.0f}"),
    ]
    header = " ".join(f"{name:>{width}}" for name, width, _value in columns)
    print(header)
    print("-" * len(header))
    for r in results:
        print(" ".join(f"{value(r):>{width}}" for _name, width, value in columns))
    print(
        "page: GET /operateur/ (first page) through django.test.Client; overviews: "
        "list_commune_overviews() alone; union: the one UNION ALL over the page's schemas alone; "
        "health: GET /operateur/sante/"
    )
    last = results[-1]
    print(
        f"queries of one list request ({last['communes']} communes, ms): "
        + ", ".join(
            f"{query_kind(sql)} {ms_:.1f}"
            for sql, ms_ in zip(last["query_sql"], last["query_ms"], strict=True)
        )
    )
    status = 0
    for r in results:
        for error in r["errors"]:
            print(f"CHECK FAILED ({r['communes']} communes): {error}")
            status = 1
    counts = {r["queries"] for r in results}
    if len(counts) == 1:
        print(
            f"query count: CONSTANT ({counts.pop()} queries per list request, whatever the number of communes)"
        )
    else:
        print(
            "query count: GROWS with the number of communes ("
            + ", ".join(f"{r['communes']} → {r['queries']}" for r in results)
            + ")"
        )
        status = 1
    if status == 0:
        print("check: OK (rows, families, payment accounts, last runs and migration states as seeded)")
    return status


if __name__ == "__main__":
    sys.exit(main())
