"""Benchmark: "Mes factures", the invoices of a family that belongs to 1, 5, 20 communes.

    python bench/invoice_list.py [--communes 1,5,20] [--repetitions 30] [--warmups 3]
                                 [--other-families 500] [--keep-db]

Provisions as many communes as the largest size. In each, the family has four issued invoices
(two to pay, one paid at the counter through billing.services.record_payment, one hidden
through billing.services.set_invoice_hidden) and one draft of the current month (never
shown); --other-families other families have four issued invoices each, so that the family's
rows are found among others; one commune in two takes online payments. The family joins the
communes one size after the other, and for each size the script measures, in this process
(django.test.Client, force_login, no HTTP server):

- GET /factures/: median and p95 over --repetitions (after --warmups), the same on a new
  PostgreSQL connection each time ("cold": what DB_CONN_MAX_AGE=0 costs), and the SQL queries
  of one request (`SET search_path` statements not counted);
- family.router.list_family_invoices() alone (the one UNION ALL query over the communes),
  on a kept connection and on a new one (connecting not counted).

It checks what the family sees (2 invoices to pay, 1 paid, 1 hidden per commune, the amount to
pay, every reference to pay on the page) and that the query count does not grow with the
number of communes: it exits 1 when either fails (a design property, not a timing).

It runs in its own database (`foyer_bench_invoices`) on the configured PostgreSQL
(DATABASE_URL, or the embedded one), dropped and created again, dropped at the end unless
--keep-db: your data is not touched. Provisioning enqueues an invitation e-mail task per
commune on the Celery broker (REDIS_URL); the script removes them from the queue afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import re
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import percentile, run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_invoices"
MONTHS = 4  # the family's issued invoices in each commune: to pay × 2, paid, hidden


def sizes_from(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("a list of numbers such as 1,5,20") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes start at 1")
    return sizes


def months_before(day: dt.date, count: int) -> list[dt.date]:
    """The first days of the `count` months before `day`'s, oldest first."""
    months, month = [], day.replace(day=1)
    for _index in range(count):
        month = (month - dt.timedelta(days=1)).replace(day=1)
        months.append(month)
    return months[::-1]


# --- Data -------------------------------------------------------------------------------------------


def make_families(others: int):
    from shared_identity.models import Account, Child, Family, Guardian

    account = Account.objects.create_user(
        email="parent@factures.test", password=None, first_name="Camille", last_name="Facture"
    )
    family = Family.objects.create(
        name="Facture", address_line="3 rue des Écoles", postcode="38000", city="Vif"
    )
    Guardian.objects.create(
        family=family, account=account, first_name="Camille", last_name="Facture", email=account.email
    )
    Child.objects.create(
        family=family, first_name="Léa", last_name="Facture", birth_date=dt.date(2017, 5, 14)
    )
    other_families = Family.objects.bulk_create(Family(name=f"Autre {index:04d}") for index in range(others))
    return account, family, other_families


def fill_commune(commune, *, index: int, family, others, today: dt.date) -> list[str]:
    """Issued invoices for the family (to pay × 2, paid, hidden) and for the other families,
    and a draft of the current month. Returns the references the family has to pay."""
    from billing import services
    from billing.models import Invoice, InvoicingRun, Regie
    from tenants.context import commune_context

    months = months_before(today, MONTHS)
    issued_at = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(9), tzinfo=dt.UTC)
    with commune_context(commune):
        Regie.objects.update(regie_code=f"R{index:02d}", online_payment=index % 2 == 0)
        number = 0
        invoices: list[Invoice] = []
        for offset, month in enumerate(months):
            start, end = services.month_bounds(month)
            run = InvoicingRun.objects.create(
                period_start=start, period_end=end, status=InvoicingRun.Status.ISSUED, issued_at=issued_at
            )
            for payer, total in [
                (family, Decimal("40.50") + offset + index),
                *((f, Decimal("31.20")) for f in others),
            ]:
                number += 1
                invoices.append(
                    Invoice(
                        regie_id=run.regie_id,
                        run=run,
                        family=payer,
                        status=Invoice.Status.ISSUED,
                        year=month.year,
                        number=number,
                        reference=services.format_reference(
                            year=month.year, regie_code=f"R{index:02d}", number=number
                        ),
                        period_start=start,
                        period_end=end,
                        total=total,
                        issued_at=issued_at - dt.timedelta(days=30 * (MONTHS - offset)),
                        due_date=end + dt.timedelta(days=30 + 30 * offset),
                        payer_name=f"Camille {payer.name.upper()}",
                        payer_address="3 rue des Écoles\n38000 Vif",
                        dossier_number=f"F{payer.pk:06d}",
                    )
                )
        Invoice.objects.bulk_create(invoices, batch_size=2000)
        draft_start, draft_end = services.month_bounds(today)
        draft_run = InvoicingRun.objects.create(period_start=draft_start, period_end=draft_end)
        Invoice.objects.create(
            run=draft_run,
            family=family,
            period_start=draft_start,
            period_end=draft_end,
            total=Decimal("9.99"),
        )
        mine = list(
            Invoice.objects.filter(family=family, status=Invoice.Status.ISSUED).order_by("period_start")
        )
        hidden, paid, *to_pay = mine
        services.record_payment(invoice_id=paid.pk, method="check", amount=paid.total, reference="chèque 42")
        services.set_invoice_hidden(family_ids=[family.pk], invoice_id=hidden.pk, hidden=True)
        return [invoice.reference for invoice in to_pay]


# --- Measures ---------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def timings(func, *, repetitions: int, warmups: int) -> list[float]:
    for _warmup in range(warmups):
        func()
    measured = []
    for _repetition in range(repetitions):
        start = time.perf_counter()
        func()
        measured.append(time.perf_counter() - start)
    return measured


def counted_queries(captured) -> list[dict]:
    return [
        q for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith("SET SEARCH_PATH")
    ]


def query_kind(sql: str) -> str:
    if " UNION ALL " in sql:
        return f"one UNION ALL over {sql.count(' UNION ALL ') + 1} communes"
    match = re.search(r'FROM "(\w+)"', sql)
    return match.group(1) if match else sql[:30]


def check_page(size: int, *, account, references: list[str], content: str) -> list[str]:
    """What the family must see with `size` communes."""
    from family.router import family_invoice_lists, get_family_scope

    errors = []
    scope = get_family_scope(account)
    if len(scope.communes) != size:
        errors.append(f"the family reaches {len(scope.communes)} communes, expected {size}")
    lists = family_invoice_lists(scope=scope)
    shape = (len(lists.to_pay), len(lists.paid), len(lists.hidden))
    if shape != (2 * size, size, size):
        errors.append(f"to pay / paid / hidden: {shape}, expected {(2 * size, size, size)}")
    if {i.reference for i in lists.to_pay} != set(references):
        errors.append("the invoices to pay are not the family's issued, unpaid, visible ones")
    missing = [reference for reference in references if f"(ref : {reference})" not in content]
    if missing:
        errors.append(f"{len(missing)} references to pay missing from the page, e.g. {missing[0]}")
    if f"Voir les factures masquées ({size})" not in content:
        errors.append(f"the page does not offer the {size} hidden invoice(s)")
    return errors


def measure(size: int, *, account, references: list[str], repetitions: int, warmups: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from family.router import get_family_scope, list_family_invoices

    client = Client()
    client.force_login(account)

    def get_page():
        response = client.get("/factures/")
        if response.status_code != 200:
            raise RuntimeError(f"GET /factures/ answered {response.status_code}")
        return response

    def get_page_cold() -> None:
        connection.close()
        get_page()

    scope = get_family_scope(account)
    cold_lists: list[float] = []

    def list_cold() -> None:
        connection.close()
        connection.ensure_connection()
        start = time.perf_counter()
        list_family_invoices(scope=scope)
        cold_lists.append(time.perf_counter() - start)

    page = timings(get_page, repetitions=repetitions, warmups=warmups)
    page_cold = timings(get_page_cold, repetitions=repetitions, warmups=warmups)
    with CaptureQueriesContext(connection) as captured:
        response = get_page()
    queries = counted_queries(captured)
    content = response.content.decode()
    listed = timings(lambda: list_family_invoices(scope=scope), repetitions=repetitions, warmups=warmups)
    timings(list_cold, repetitions=repetitions, warmups=warmups)
    del cold_lists[:warmups]
    return {
        "communes": size,
        "invoices": len(list_family_invoices(scope=scope)),
        "queries": len(queries),
        "query_sql": [q["sql"] for q in queries],
        "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
        "page": page,
        "page_cold": page_cold,
        "list": listed,
        "list_cold": cold_lists,
        "bytes": len(response.content),
        "errors": check_page(size, account=account, references=references, content=content),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--communes", type=sizes_from, default="1,5,20", help="family sizes, in communes")
    parser.add_argument("--repetitions", type=int, default=30, help="measured requests per size")
    parser.add_argument("--warmups", type=int, default=3, help="requests before measuring")
    parser.add_argument(
        "--other-families",
        type=int,
        default=500,
        help=f"other families with {MONTHS} issued invoices in each commune",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"keep {BENCH_DB} afterwards")
    args = parser.parse_args()
    if args.repetitions < 1 or args.warmups < 0 or args.other_families < 0:
        parser.error("--repetitions must be at least 1, --warmups and --other-families at least 0")

    return run_in_bench_database(BENCH_DB, run, args, keep_db=args.keep_db)


def run(args) -> int:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from operators.services import provision_commune
    from shared_identity.models import Membership
    from tenants import schemas

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
    load_at_start = os.getloadavg()[0]
    today = timezone.localdate()
    setup_started = time.perf_counter()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    schemas.ensure_template_schema()
    account, family, others = make_families(args.other_families)
    communes, references = [], []
    for index in range(args.communes[-1]):
        commune = provision_commune(
            name=f"Commune {index + 1:02d}",
            slug=f"factures-{index + 1:02d}",
            admin_email="admin@factures.test",
        )
        type(commune).objects.filter(pk=commune.pk).update(opened_at=timezone.now())  # open to families
        references.append(fill_commune(commune, index=index + 1, family=family, others=others, today=today))
        communes.append(commune)
    with connection.cursor() as cursor:
        for commune in communes:
            cursor.execute(f"ANALYZE {schemas.quote_ident(commune.schema_name)}.billing_invoice")
    setup_seconds = time.perf_counter() - setup_started

    results = []
    for size in args.communes:
        Membership.objects.bulk_create(
            Membership(
                family=family,
                commune=commune,
                dossier_number=f"F{index:04d}",
                status=Membership.Status.ACTIVE,
                activated_at=timezone.now(),
            )
            for index, commune in enumerate(communes)
            if index < size and not Membership.objects.filter(family=family, commune=commune).exists()
        )
        # Memberships are listed by commune name, hence in creation order here.
        expected = [reference for refs in references[:size] for reference in refs]
        results.append(
            measure(
                size, account=account, references=expected, repetitions=args.repetitions, warmups=args.warmups
            )
        )
    pg_version = connection.pg_version // 10000
    try:
        from foyer.celery import app

        app.control.purge()  # the administrators' invitations provisioning enqueued; no worker here
    except Exception as exc:  # the broker is down: nothing was queued either
        print(f"(could not purge the Celery queue: {exc})")

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {pg_version} ({connection.settings_dict['HOST'] or 'socket'}); "
        f"DB_CONN_MAX_AGE={os.environ.get('DB_CONN_MAX_AGE') or 60}; load average (1 min) "
        f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"setup {setup_seconds:.1f} s ({len(communes)} communes, {MONTHS} issued invoices of the family and "
        f"{MONTHS * args.other_families} of {args.other_families} other families in each); "
        f"{args.repetitions} repetitions after {args.warmups} warm-ups; times in ms"
    )
    columns = [
        ("communes", 8, lambda r: f"{r['communes']}"),
        ("invoices", 8, lambda r: f"{r['invoices']}"),
        ("queries", 7, lambda r: f"{r['queries']}"),
        ("SQL ms", 7, lambda r: f"{r['sql_ms']:.1f}"),
        ("page p50", 9, lambda r: ms(statistics.median(r["page"]))),
        ("page p95", 9, lambda r: ms(percentile(r["page"], 95))),
        ("cold p50", 9, lambda r: ms(statistics.median(r["page_cold"]))),
        ("list p50", 9, lambda r: ms(statistics.median(r["list"]))),
        ("list p95", 9, lambda r: ms(percentile(r["list"], 95))),
        ("list cold p50", 13, lambda r: ms(statistics.median(r["list_cold"]))),
        ("HTML kB", 7, lambda r: f"{r['bytes'] / 1024:.0f}"),
    ]
    header = " ".join(f"{name:>{width}}" for name, width, _value in columns)
    print(header)
    print("-" * len(header))
    for r in results:
        print(" ".join(f"{value(r):>{width}}" for _name, width, value in columns))
    print(
        "page: GET /factures/ through django.test.Client on a kept connection; cold: the same on a new "
        "PostgreSQL connection each time; list: list_family_invoices() alone (the UNION ALL), on a kept / "
        "a new connection (connecting not counted)"
    )
    print("queries of one request: " + ", ".join(query_kind(sql) for sql in results[-1]["query_sql"]))
    status = 0
    for r in results:
        for error in r["errors"]:
            print(f"CHECK FAILED ({r['communes']} communes): {error}")
            status = 1
    counts = {r["queries"] for r in results}
    if len(counts) == 1:
        print(f"query count: CONSTANT ({counts.pop()} queries per request, whatever the number of communes)")
    else:
        print(
            "query count: GROWS with the number of communes ("
            + ", ".join(f"{r['communes']} → {r['queries']}" for r in results)
            + ")"
        )
        status = 1
    if status == 0:
        print("check: OK (2 to pay, 1 paid, 1 hidden per commune; every reference to pay on the page)")
    return status


if __name__ == "__main__":
    sys.exit(main())
