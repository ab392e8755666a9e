"""Benchmark: mixed family traffic at rush hour, over HTTP, with locust.

    python bench/family_load.py [--users 50,200] [--duration 60] [--think 1,3] [--communes 2]
                                [--workers 4] [--threads 10] [--keep-db]

Seeds --communes communes (one service, one prestation, one site each) and as many families as
the largest user count, each with an account, two children enrolled in every commune, bookings
on the three weekdays of the coming week and two issued invoices per commune. Starts the real
web server (gunicorn, gthread, foyer.settings.local) on a free port of 127.0.0.1, then, for each
user count, runs locust headless in its own process (bench/load/locustfile.py): every simulated
family signs in once with the real form, then opens the dashboard, the week, the cart and its
invoices (weights 3, 3, 1, 2) with --think seconds between pages. The statistics are reset
once every family has signed in (locust --reset-stats), so they cover the pages of signed-in
families only; the ramp's sign-ins are bench/booking_burst.py's subject.

Prints per page and overall: requests, requests/s, p50/p95/p99 and failures (a page that is
not a 200, or that sends the family to the sign-in page), the load average, and whether the
target (p95 <= 200 ms at 200 users, no failure) is met. Exits 1 on any failure, never on time.

It runs in its own database (`foyer_bench_load`) on DATABASE_URL (or the embedded PostgreSQL),
dropped and created again, dropped at the end unless --keep-db.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import percentile, run_in_bench_database  # noqa: E402
from booking_burst import free_port, start_server, stop_server, wait_until_up  # noqa: E402

BENCH_DB = "foyer_bench_load"
PASSWORD = "Dimanche-soir-avant-minuit"
LOCUSTFILE = Path(__file__).resolve().parent / "load" / "locustfile.py"
TARGET_USERS, TARGET_P95_MS = 200, 200
PAGES = ("dashboard", "week", "cart", "invoices")


def seed(families: int, communes: int) -> list[str]:
    """The families' e-mails."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from billing.models import Invoice, default_regie_id
    from operators.services import provision_commune
    from reservations.models import Booking, Enrolment, Prestation, PrestationSite, Service, Site
    from shared_identity.models import Account, Child, Family, Guardian, Membership
    from tenants import schemas
    from tenants.context import commune_context

    schemas.ensure_template_schema()
    password_hash = make_password(PASSWORD)  # one hash for all: hashing is the sign-in's cost
    accounts = Account.objects.bulk_create(
        Account(
            email=f"parent{n:04d}@charge.test", password=password_hash, first_name="Parent", last_name=f"N{n}"
        )
        for n in range(families)
    )
    rows = Family.objects.bulk_create(Family(name=f"Famille {n:04d}") for n in range(families))
    Guardian.objects.bulk_create(
        Guardian(
            family=family, account=account, first_name="Parent", last_name=family.name, email=account.email
        )
        for family, account in zip(rows, accounts, strict=True)
    )
    children = Child.objects.bulk_create(
        Child(family=family, first_name=name, last_name=family.name, birth_date=dt.date(2018, 3, 1))
        for family in rows
        for name in ("Léa", "Hugo")
    )
    today = timezone.localdate()
    monday = today + dt.timedelta(days=7 - today.weekday())
    for c in range(communes):
        commune = provision_commune(
            name=f"Commune {c + 1}", slug=f"charge-{c + 1}", admin_email="a@charge.test"
        )
        type(commune).objects.filter(pk=commune.pk).update(opened_at=timezone.now())
        Membership.objects.bulk_create(
            Membership(
                family=family,
                commune=commune,
                dossier_number=f"C{n:05d}",
                status=Membership.Status.ACTIVE,
                activated_at=timezone.now(),
            )
            for n, family in enumerate(rows)
        )
        with commune_context(commune):
            service = Service.objects.create(name="Restauration scolaire")
            site = Site.objects.create(name="École du Centre")
            site.services.add(service)
            prestation = Prestation.objects.create(
                service=service,
                label="Repas",
                code="REPAS",
                billing_mode=Prestation.BillingMode.MONTH_END,
                weekdays=[0, 1, 3, 4],
                period=Prestation.Period.ALL,
                base_price=Decimal("4.05"),
                booking_rule={},
                cancellation_rule={},
                start_time=dt.time(12, 0),
            )
            PrestationSite.objects.create(prestation=prestation, site=site, capacity=None)
            Enrolment.objects.bulk_create(
                Enrolment(
                    child=child,
                    family_id=child.family_id,
                    service=service,
                    site=site,
                    start=today - dt.timedelta(days=90),
                    end=today + dt.timedelta(days=90),
                )
                for child in children
            )
            Booking.objects.bulk_create(
                Booking(
                    child=child,
                    family_id=child.family_id,
                    prestation=prestation,
                    site=site,
                    date=monday + dt.timedelta(days=offset),
                    status=Booking.Status.CONFIRMED,
                    price=Decimal("4.05"),
                )
                for child in children
                for offset in (0, 1, 3)
            )
            regie_id = default_regie_id()
            number = 0
            invoices = []
            for family in rows:
                for month in (9, 10):
                    number += 1
                    invoices.append(
                        Invoice(
                            regie_id=regie_id,
                            family=family,
                            status=Invoice.Status.ISSUED,
                            year=2026,
                            number=number,
                            reference=f"F2026-{number:05d}",
                            period_start=dt.date(2026, month, 1),
                            period_end=dt.date(2026, month, 28),
                            total=Decimal("48.60"),
                            issued_at=timezone.now(),
                            due_date=dt.date(2026, month + 1, 15),
                            payer_name=family.name,
                        )
                    )
            Invoice.objects.bulk_create(invoices)
    return [account.email for account in accounts]


def read_stats(prefix: Path) -> dict[str, dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def run_locust(
    base: str, users: int, args, accounts_file: Path, prefix: Path
) -> tuple[dict[str, dict], list]:
    env = dict(
        os.environ,
        FOYER_LOAD_ACCOUNTS=str(accounts_file),
        FOYER_LOAD_PASSWORD=PASSWORD,
        FOYER_LOAD_THINK=args.think,
        FOYER_LOAD_TIMES=f"{prefix}_times.json",
    )
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base,
        "--users",
        str(users),
        "--spawn-rate",
        str(max(5, users // 10)),
        "--run-time",
        f"{args.duration}s",
        "--reset-stats",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.duration + 300)
    if run.returncode != 0:
        raise RuntimeError(f"locust failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return read_stats(prefix), json.loads(Path(f"{prefix}_times.json").read_text())


def bench(args) -> int:
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    emails = seed(max(args.users), args.communes)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    failures = 0
    met = None
    with tempfile.TemporaryDirectory() as tmp:
        accounts_file = Path(tmp) / "accounts.txt"
        accounts_file.write_text("\n".join(emails))
        with open(Path(tmp) / "server.log", "w") as log:
            server = start_server(args, port, log)
            try:
                wait_until_up(server, base)
                print(
                    f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                    f"gunicorn gthread {args.workers}x{args.threads}; {args.communes} communes; "
                    f"think {args.think} s; {args.duration} s per run after the ramp"
                )
                for users in args.users:
                    load_before = os.getloadavg()[0]
                    stats, times = run_locust(base, users, args, accounts_file, Path(tmp) / f"u{users}")
                    load_after = os.getloadavg()[0]
                    print(f"\n{users} families (load average {load_before:.1f} -> {load_after:.1f})")
                    print(
                        f"  {'page':10s} {'requests':>8s} {'req/s':>7s} {'p50':>6s} {'p95':>6s} {'p99':>6s} {'failures':>8s}"
                    )
                    for name in PAGES:
                        row = stats.get(name)
                        if row is not None:
                            print(
                                f"  {name:10s} {row['Request Count']:>8s} {float(row['Requests/s']):7.1f} "
                                f"{row['50%']:>6s} {row['95%']:>6s} {row['99%']:>6s} {row['Failure Count']:>8s}"
                            )
                    failed = sum(
                        int(row["Failure Count"]) for row in stats.values() if row["Name"] != "Aggregated"
                    )
                    p95 = percentile(times, 95) if times else float("inf")
                    seconds = float(stats["Aggregated"]["Request Count"]) / max(
                        float(stats["Aggregated"]["Requests/s"]), 1e-9
                    )
                    print(
                        f"  {'all pages':10s} {len(times):8d} {len(times) / seconds:7.1f} {percentile(times, 50) if times else 0:6.0f} "
                        f"{p95:6.0f} {percentile(times, 99) if times else 0:6.0f} {failed:8d}"
                    )
                    failures += failed
                    if not times:
                        print("  no page was opened")
                        failures += 1
                    if users == TARGET_USERS:
                        met = failed == 0 and p95 <= TARGET_P95_MS
                    if failed:
                        with open(f"{Path(tmp) / f'u{users}'}_failures.csv", newline="") as handle:
                            for row in list(csv.DictReader(handle))[:10]:
                                print(f"  failure: {row['Name']} {row['Error']} x{row['Occurrences']}")
            finally:
                stop_server(server)
    if met is not None:
        print(
            f"\ntarget (p95 <= {TARGET_P95_MS} ms at {TARGET_USERS} families, no failure): {'met' if met else 'NOT met'}"
        )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--users", default="50,200", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--duration", type=int, default=60, help="seconds measured per user count")
    parser.add_argument("--think", default="1,3", help="think time between pages: min,max seconds")
    parser.add_argument("--communes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=10, help="gunicorn threads per worker")
    # booking_burst.start_server's options: gunicorn, as in production (DEBUG off)
    parser.add_argument("--server", default="gunicorn", help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-alive", type=int, default=10, help="gunicorn's idle keep-alive, in seconds")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    return run_in_bench_database(BENCH_DB, bench, args, keep_db=args.keep_db)


if __name__ == "__main__":
    sys.exit(main())
