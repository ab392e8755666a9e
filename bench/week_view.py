"""Benchmark: the unified week view of a family that belongs to 1, 5, 20 communes.

    python bench/week_view.py [--communes 1,5,20] [--children 2] [--repetitions 30] [--warmups 3] \
        [--database foyer_bench_week] [--keep-db]

Provisions as many communes as the largest size, each with a small catalogue (2 services,
3 prestations, 1 site), the family's 2 children enrolled in every service, a few bookings and
cart items in the week measured. The family joins the communes one size after the other, and
for each size the script measures, in this process (django.test.Client, no HTTP server):

- GET /reservations/?semaine=<Monday>: median and p95 over --repetitions (after --warmups),
  and the SQL queries of one request (`SET search_path` statements not counted); the test
  client keeps its database connection between requests, so the same GET is also timed on a
  new connection each time ("cold"), which is what every request costs with DB_CONN_MAX_AGE=0;
- build_week() alone (the family router and the Python that lays out the cells);
- family.router.read_family_reservations() alone (the one UNION ALL query), on a kept
  connection and on a new one.

The query count must not grow with the number of communes: the script says whether it is
constant, and exits 1 when it grows (a design property, not a timing).

Each commune's catalogue is cached by the family router (keyed by its catalogue version): the
warm-ups fill the cache, so the figures are those of the pages that follow a first one; the
first page after a change of a commune's catalogue costs what "router" costs without a cache
(the script prints whether the cache is on).

It runs in its own database (`--database`, `foyer_bench_week` by default) on the PostgreSQL
server of DATABASE_URL (the system one, e.g. postgresql://postgres@127.0.0.1:5432/x: only the
server is used), or on the embedded one when DATABASE_URL is not set; that database is dropped
and created again, so your data is not touched, and dropped at the end unless --keep-db.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import percentile, run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_week"
SERVICES = 2
PRESTATIONS = 3


def sizes_from(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("a list of numbers such as 1,5,20") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes start at 1")
    return sizes


def monday(text: str) -> dt.date:
    day = dt.date.fromisoformat(text)
    return day - dt.timedelta(days=day.weekday())


def default_week(today: dt.date) -> dt.date:
    """The first Monday two weeks ahead or later whose weekdays hold no public holiday."""
    from reservations.holidays import is_public_holiday

    start = today + dt.timedelta(days=14 + (7 - today.weekday()) % 7)
    for _attempt in range(20):
        if not any(is_public_holiday(start + dt.timedelta(days=n)) for n in range(5)):
            return start
        start += dt.timedelta(days=7)
    raise RuntimeError("no week without a public holiday in the next five months")


# --- Data -------------------------------------------------------------------------------------------


FIRST_NAMES = ("Alix", "Jules", "Nina", "Sacha", "Lou", "Tom")


def make_family(children: int):
    from shared_identity.models import Account, Child, Family, Guardian

    account = Account.objects.create_user(
        email="parent@semaine.test", password=None, first_name="Camille", last_name="Semaine"
    )
    family = Family.objects.create(name="Semaine")
    Guardian.objects.create(
        family=family, account=account, first_name="Camille", last_name="Semaine", email=account.email
    )
    children = [
        Child.objects.create(
            family=family,
            first_name=FIRST_NAMES[index % len(FIRST_NAMES)],
            last_name="Semaine",
            birth_date=(dt.date(2016, 4, 2), dt.date(2019, 10, 9))[index]
            if index < 2
            else dt.date(2020 + index, 1, 5),
        )
        for index in range(children)
    ]
    return account, family, children


def fill_commune(commune, *, family, children, account, week: dt.date) -> None:
    """2 services, 3 prestations, 1 site; every child enrolled in both services; 4 bookings
    and 2 cart items in the week (for the first two children); one day full."""
    from reservations.deadlines import DeadlineRule
    from reservations.models import (
        Booking,
        Cart,
        CartItem,
        Enrolment,
        Prestation,
        PrestationSite,
        PriceBracket,
        Service,
        Site,
        Slot,
    )
    from tenants.context import commune_context

    school_days = [0, 1, 3, 4]
    with commune_context(commune):
        canteen = Service.objects.create(name="Restauration scolaire")
        afterschool = Service.objects.create(name="Périscolaire")
        site = Site.objects.create(name="École Jules Ferry")
        site.services.add(canteen, afterschool)
        specs = [
            (canteen, "Repas", "REPAS", "4.05", "11:45", DeadlineRule.weekday_previous_week(1), 30),
            (afterschool, "Garderie du matin", "GARMAT", "1.80", "07:30", DeadlineRule.days_before(1), None),
            (afterschool, "Garderie du soir", "GARSOIR", "2.50", "16:30", DeadlineRule.days_before(1), None),
        ]
        prestations = []
        for service, label, code, price, start_time, rule, capacity in specs:
            prestation = Prestation.objects.create(
                service=service,
                label=label,
                code=code,
                weekdays=school_days,
                period=Prestation.Period.SCHOOL,
                start_time=dt.time.fromisoformat(start_time),
                base_price=Decimal(price),
                booking_rule=rule.to_dict(),
                cancellation_rule=DeadlineRule.days_before(1, at=dt.time(18, 0)).to_dict(),
                late_price=Decimal("5.20") if code == "REPAS" else None,
            )
            PrestationSite.objects.create(prestation=prestation, site=site, capacity=capacity)
            prestations.append(prestation)
        repas, garmat, garsoir = prestations
        PriceBracket.objects.create(prestation=repas, qf_min=0, qf_max=600, price=Decimal("1.00"))
        year_start = dt.date(week.year if week.month >= 8 else week.year - 1, 9, 1)
        Enrolment.objects.bulk_create(
            Enrolment(
                child=child,
                family=family,
                service=service,
                site=site,
                start=year_start,
                end=dt.date(year_start.year + 1, 7, 4),
            )
            for child in children
            for service in (canteen, afterschool)
        )
        first, second = children[0], children[-1]
        booked = [(first, repas, 0), (first, repas, 1), (first, garsoir, 3)]
        if second is not first:
            booked.append((second, repas, 0))
        Booking.objects.bulk_create(
            Booking(
                child=child,
                family=family,
                prestation=prestation,
                site=site,
                date=week + dt.timedelta(days=offset),
                status=Booking.Status.CONFIRMED,
                price=prestation.base_price,
                created_by=account,
            )
            for child, prestation, offset in booked
        )
        Slot.objects.bulk_create(
            [
                Slot(prestation=repas, site=site, date=week, taken=2),
                Slot(prestation=repas, site=site, date=week + dt.timedelta(days=1), taken=1),
                Slot(prestation=garsoir, site=site, date=week + dt.timedelta(days=3), taken=1),
                # Friday's meals are full.
                Slot(prestation=repas, site=site, date=week + dt.timedelta(days=4), taken=30),
            ]
        )
        cart = Cart.objects.create(family=family, account=account)
        CartItem.objects.bulk_create(
            [
                CartItem(
                    cart=cart,
                    action="book",
                    child=second,
                    prestation=repas,
                    site=site,
                    date=week + dt.timedelta(days=3),
                ),
                CartItem(
                    cart=cart,
                    action="book",
                    child=first,
                    prestation=garmat,
                    site=site,
                    date=week + dt.timedelta(days=4),
                ),
            ]
        )


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


def measure(size: int, *, account, week: dt.date, repetitions: int, warmups: int, children: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from family import router
    from family.router import build_week, get_family_scope, read_family_reservations

    client = Client(HTTP_HOST="localhost")
    client.force_login(account)
    url = f"/reservations/?semaine={week.isoformat()}"

    def get_page() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")

    scope = get_family_scope(account)
    if len(scope.communes) != size:
        raise RuntimeError(f"the family reaches {len(scope.communes)} communes, expected {size}")
    end = week + dt.timedelta(days=6)

    def read() -> None:
        read_family_reservations(
            communes=scope.communes,
            family_ids=scope.family_ids,
            child_ids=[child.pk for child in scope.children],
            start=week,
            end=end,
        )

    def cold(func):
        # What every request would pay with DB_CONN_MAX_AGE=0: a new PostgreSQL
        # backend, whose catalogue caches are empty, for each request.
        def run() -> None:
            connection.close()
            func()

        return run

    cold_reads: list[float] = []

    def read_cold() -> None:
        connection.close()
        connection.ensure_connection()
        start = time.perf_counter()
        read()
        cold_reads.append(time.perf_counter() - start)

    page = timings(get_page, repetitions=repetitions, warmups=warmups)
    # The page right after every commune's catalogue changed (its version moved, as any write
    # to the catalogue moves it): the router reads every catalogue again, as without a cache.
    page_miss: list[float] = []
    if hasattr(router, "cached_catalogues"):
        schema_names = [commune.schema_name for commune in scope.communes]
        for repetition in range(warmups + repetitions):
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE tenants_commune SET catalogue_version = "
                    "nextval('tenants_commune_catalogue_version_seq') WHERE schema_name = ANY(%s)",
                    [schema_names],
                )
            start = time.perf_counter()
            get_page()
            if repetition >= warmups:
                page_miss.append(time.perf_counter() - start)
    page_cold = timings(cold(get_page), repetitions=repetitions, warmups=warmups)
    with CaptureQueriesContext(connection) as captured:
        get_page()
    queries = counted_queries(captured)
    week_data = build_week(scope=scope, day=week)
    expected_rows = size * children * PRESTATIONS
    if len(week_data.rows) != expected_rows:
        raise RuntimeError(f"the week shows {len(week_data.rows)} rows, expected {expected_rows}")
    built = timings(lambda: build_week(scope=scope, day=week), repetitions=repetitions, warmups=warmups)
    routed = timings(read, repetitions=repetitions, warmups=warmups)
    timings(read_cold, repetitions=repetitions, warmups=warmups)
    del cold_reads[:warmups]
    return {
        "communes": size,
        "rows": len(week_data.rows),
        "cart": week_data.cart_count,
        "queries": len(queries),
        "search_path": len(captured.captured_queries) - len(queries),
        "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
        "page": page,
        "page_cold": page_cold,
        "page_miss": page_miss,
        "router_cold": cold_reads,
        "build": built,
        "router": routed,
        "bytes": len(client.get(url).content),
    }


def catalogue_cache() -> str:
    """Whether this code caches the communes' catalogues (older code has no such cache)."""
    from family import router

    if not hasattr(router, "cached_catalogues"):
        return "none in this code"
    from django.conf import settings

    return f"on ({settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--communes", type=sizes_from, default="1,5,20", help="family sizes, in communes")
    parser.add_argument("--repetitions", type=int, default=30, help="measured requests per size")
    parser.add_argument("--warmups", type=int, default=3, help="requests before measuring")
    parser.add_argument(
        "--children", type=int, default=2, help="children of the family, each in every service"
    )
    parser.add_argument(
        "--week",
        type=monday,
        default=argparse.SUPPRESS,
        help="a day of the week shown (default: the first Monday two weeks ahead with no public holiday)",
    )
    parser.add_argument(
        "--database", default=BENCH_DB, help="the database created (and dropped) on DATABASE_URL's server"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.repetitions < 1 or args.warmups < 0 or args.children < 1:
        parser.error("--repetitions and --children must be at least 1, --warmups at least 0")
    if not args.database.replace("_", "").isalnum() or not args.database.isascii():
        parser.error("--database: letters, digits and underscores only")

    return run_in_bench_database(args.database, run, args, keep_db=args.keep_db)


def run(args) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from operators.services import provision_commune
    from shared_identity.models import Membership
    from tenants import schemas

    week = getattr(args, "week", None) or default_week(timezone.localdate())
    load_before = os.getloadavg()
    setup_started = time.perf_counter()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    schemas.ensure_template_schema()
    account, family, children = make_family(args.children)
    communes = []
    for index in range(args.communes[-1]):
        commune = provision_commune(
            name=f"Commune {index + 1:02d}", slug=f"semaine-{index + 1:02d}", admin_email="admin@semaine.test"
        )
        type(commune).objects.filter(pk=commune.pk).update(opened_at=timezone.now())  # open to families
        fill_commune(commune, family=family, children=children, account=account, week=week)
        communes.append(commune)
    setup_seconds = time.perf_counter() - setup_started

    results = []

    def connect() -> None:
        connection.close()
        connection.ensure_connection()

    connect_seconds = statistics.median(timings(connect, repetitions=10, warmups=1))
    for size in args.communes:
        Membership.objects.bulk_create(
            Membership(
                family=family,
                commune=commune,
                dossier_number=f"S{index:04d}",
                status=Membership.Status.ACTIVE,
                activated_at=timezone.now(),
            )
            for index, commune in enumerate(communes)
            if index < size and not Membership.objects.filter(family=family, commune=commune).exists()
        )
        results.append(
            measure(
                size,
                account=account,
                week=week,
                repetitions=args.repetitions,
                warmups=args.warmups,
                children=args.children,
            )
        )
    pg_version = connection.pg_version // 10000
    load_after = os.getloadavg()

    settings_dict = connection.settings_dict
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {pg_version} at {settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}, "
        f"database {settings_dict['NAME']}; DB_CONN_MAX_AGE={os.environ.get('DB_CONN_MAX_AGE') or 60}; "
        f"catalogue cache: {catalogue_cache()}"
    )
    print(
        f"family: {args.children} children, each in {SERVICES} services ({PRESTATIONS} prestations) of every commune"
    )
    print(
        f"setup {setup_seconds:.1f} s ({len(communes)} communes); week of {week}; "
        f"{args.repetitions} repetitions after {args.warmups} warm-ups; times in ms; "
        f"opening a PostgreSQL connection: {connect_seconds * 1000:.1f} ms"
    )
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{value:.2f}" for value in load_before)
        + "; after: "
        + ", ".join(f"{value:.2f}" for value in load_after)
    )
    columns = [
        ("communes", 8, lambda r: f"{r['communes']}"),
        ("rows", 5, lambda r: f"{r['rows']}"),
        ("queries", 7, lambda r: f"{r['queries']}"),
        ("SQL ms", 7, lambda r: f"{r['sql_ms']:.1f}"),
        ("page p50", 9, lambda r: ms(statistics.median(r["page"]))),
        ("page p95", 9, lambda r: ms(percentile(r["page"], 95))),
        ("cold p50", 9, lambda r: ms(statistics.median(r["page_cold"]))),
        ("changed p50", 11, lambda r: ms(statistics.median(r["page_miss"])) if r["page_miss"] else "—"),
        ("build p50", 9, lambda r: ms(statistics.median(r["build"]))),
        ("router p50", 10, lambda r: ms(statistics.median(r["router"]))),
        ("router p95", 10, lambda r: ms(percentile(r["router"], 95))),
        ("rt cold p50", 11, lambda r: ms(statistics.median(r["router_cold"]))),
        ("HTML kB", 7, lambda r: f"{r['bytes'] / 1024:.0f}"),
    ]
    header = " ".join(f"{name:>{width}}" for name, width, _value in columns)
    print(header)
    print("-" * len(header))
    for r in results:
        print(" ".join(f"{value(r):>{width}}" for _name, width, value in columns))
    print(
        "page: GET through django.test.Client on a kept connection; cold: the same on a new PostgreSQL "
        "connection (what DB_CONN_MAX_AGE=0 does to every request); changed: the same right after every "
        "commune's catalogue changed (no catalogue in the cache); build: build_week(); router: "
        "read_family_reservations() alone, on a kept / a new connection (connecting not counted)"
    )
    counts = {r["queries"] for r in results}
    if len(counts) == 1:
        print(f"query count: CONSTANT ({counts.pop()} queries per request, whatever the number of communes)")
        return 0
    print(
        "query count: GROWS with the number of communes ("
        + ", ".join(f"{r['communes']} → {r['queries']}" for r in results)
        + ")"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
