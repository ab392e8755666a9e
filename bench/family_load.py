"""Benchmark: mixed family traffic at rush hour, over HTTP, with locust.

    python bench/family_load.py [--users 50,200] [--duration 60] [--think 1,3] [--communes 2]
                                [--workers 4] [--threads 10] [--spawn-rate N] [--keep-alive S]
                                [--keep-db]

Seeds --communes communes (one service, one prestation, one site each) and as many families as
the largest user count, each with an account, two children enrolled in every commune, bookings
on three days of this week and of the next, two issued invoices per commune and, in the first
commune, an open cart of two lines. Starts the real web server (gunicorn, gthread,
foyer.settings.local, keep-alive longer than the longest think time) on a free port of
127.0.0.1 and checks that one family's pages show that content. Then, for each user count, it
runs locust headless in its own process (bench/load/locustfile.py, FastHttpUser): every
simulated family signs in once with the real form (CSRF token, Argon2 check), then opens the
dashboard, the week, the cart and its invoices (weights 3, 3, 1, 2) with --think seconds
between pages. The pages are measured for --duration seconds from the moment every family has
signed in, so the figures are those of signed-in families browsing (the ramp's sign-ins are
bench/booking_burst.py's subject).

Prints per page and overall: requests, requests/s, p50/p95/p99 and errors (a page that is not a
200, a redirect to the sign-in page included; a sign-in that fails; a connection error), the load
average before and after, and whether the target (p95 <= 200 ms at 200 users, no error) is met.
Exits 1 on any error, never on time.

It runs in its own database (`foyer_bench_load`) on DATABASE_URL (or the embedded PostgreSQL),
dropped and created again, dropped at the end unless --keep-db.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
import psutil  # noqa: E402
from benchdb import percentile, run_in_bench_database  # noqa: E402
from booking_burst import free_port, start_server, stop_server, wait_until_up  # noqa: E402

BENCH_DB = "foyer_bench_load"
PASSWORD = "Dimanche-soir-avant-minuit"
LOCUSTFILE = Path(__file__).resolve().parent / "load" / "locustfile.py"
TARGET_USERS, TARGET_P95_MS = 200, 200
PAGES = ("dashboard", "week", "cart", "invoices")
# (page, path, a text the first family's page shows once seeded), checked before the load.
PAGE_CHECKS = (
    ("dashboard", "/", "Commune 1"),
    ("week", "/reservations/", "3 jours réservés"),
    ("cart", "/panier/", "Repas"),
    ("invoices", "/factures/", "F2026-00001"),
)


def seed(families: int, communes: int) -> list[str]:
    """The families' e-mails."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from billing.models import Invoice, default_regie_id
    from operators.services import provision_commune
    from reservations.models import (
        Booking,
        Cart,
        CartItem,
        Enrolment,
        Prestation,
        PrestationSite,
        Service,
        Site,
    )
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
    this_monday = today - dt.timedelta(days=today.weekday())  # the week page opens on this week
    monday = this_monday + dt.timedelta(days=7)
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
                    date=this_monday + dt.timedelta(days=offset),
                    status=Booking.Status.CONFIRMED,
                    price=Decimal("4.05"),
                )
                for child in children
                for offset in (0, 1, 3, 7, 8, 10)
            )
            if c == 0:
                # The first commune: an open cart per family, the Friday for each child.
                carts = Cart.objects.bulk_create(
                    Cart(family_id=family.pk, account_id=account.pk)
                    for family, account in zip(rows, accounts, strict=True)
                )
                cart_of = {cart.family_id: cart for cart in carts}
                CartItem.objects.bulk_create(
                    CartItem(
                        cart=cart_of[child.family_id],
                        action=CartItem.Action.BOOK,
                        child=child,
                        prestation=prestation,
                        site=site,
                        date=monday + dt.timedelta(days=4),
                    )
                    for child in children
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


def check_pages(base: str, email: str) -> None:
    """One family's pages, before the load: each answers 200 and shows the seeded content."""
    import requests

    session = requests.Session()
    form = session.get(f"{base}/connexion/", timeout=(5, 60))
    answer = session.post(
        f"{base}/connexion/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=(5, 60),
    )
    if form.status_code != 200 or answer.status_code != 302:
        raise RuntimeError(f"sign-in of {email}: HTTP {form.status_code}, {answer.status_code}")
    shown = []
    for name, path, marker in PAGE_CHECKS:
        page = session.get(f"{base}{path}", allow_redirects=False, timeout=(5, 60))
        if page.status_code != 200 or marker not in page.text:
            raise RuntimeError(f"{name} ({path}): HTTP {page.status_code}, {marker!r} not on the page")
        shown.append(f"{name} {len(page.content) // 1000} kB")
    print(f"pages of one family before the load: {', '.join(shown)}")


GROUPS = (("gunicorn", "server"), ("PostgreSQL", "postgres"), ("locust", "locust"))


def snapshot(server: subprocess.Popen, locust: psutil.Process) -> dict:
    """CPU seconds used so far by each process of the web server (master and workers), of the
    bench database's PostgreSQL backends and of locust; by the whole machine (busy, and in
    interrupts: loopback TCP is mostly softirq); the load average."""
    gunicorn = psutil.Process(server.pid)
    groups = {
        "server": [gunicorn, *gunicorn.children(recursive=True)],
        "postgres": [
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and BENCH_DB in " ".join(p.info["cmdline"] or ())
        ],
        "locust": [locust],
    }
    taken = {}
    for group, processes in groups.items():
        taken[group] = {}
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:  # ended since it was listed
                continue
            taken[group][process.pid] = times.user + times.system
    machine = psutil.cpu_times()
    interrupts = machine.irq + machine.softirq
    taken["machine"] = machine.user + machine.nice + machine.system + interrupts + machine.steal
    taken["interrupts"] = interrupts
    taken["load"] = os.getloadavg()[0]
    taken["time"] = time.monotonic()
    return taken


class CpuMeter:
    """CPU used between the window's edges. Processes are read every half second, so that a
    PostgreSQL backend that closes during the window (connections live DB_CONN_MAX_AGE seconds)
    still counts what it used until then, and one opened during the window counts from zero."""

    def __init__(self, server: subprocess.Popen, locust: psutil.Process) -> None:
        self.server, self.locust = server, locust
        self.start: dict | None = None
        self.end: dict | None = None
        self.last: dict[str, dict[int, float]] = {group: {} for _label, group in GROUPS}

    def read(self, edge: str | None = None) -> None:
        taken = snapshot(self.server, self.locust)
        for _label, group in GROUPS:
            self.last[group].update(taken[group])
        if edge == "start":
            self.start = taken
        elif edge == "end":
            self.end = taken

    def used(self) -> dict[str, float]:
        assert self.start is not None and self.end is not None
        used = {
            group: sum(cpu - self.start[group].get(pid, 0.0) for pid, cpu in self.last[group].items())
            for _label, group in GROUPS
        }
        for key in ("machine", "interrupts", "time"):
            used[key] = self.end[key] - self.start[key]
        used["load"] = (self.start["load"], self.end["load"])
        return used


def run_locust(
    base: str, users: int, args, accounts_file: Path, results: Path, server: subprocess.Popen
) -> tuple[dict, float, dict | None]:
    """Locust headless in its own process. Returns its results (JSON), the seconds it took to
    sign every family in (from locust's start) and the CPU used during the window."""
    spawn_rate = args.spawn_rate or max(5, users // 10)
    env = dict(
        os.environ,
        FOYER_LOAD_ACCOUNTS=str(accounts_file),
        FOYER_LOAD_PASSWORD=PASSWORD,
        FOYER_LOAD_THINK=args.think,
        FOYER_LOAD_USERS=str(users),
        FOYER_LOAD_DURATION=str(args.duration),
        FOYER_LOAD_RESULTS=str(results),
    )
    # The locustfile stops locust once the measured window is over; --run-time only bounds a
    # run whose families never all sign in.
    cap = args.duration + users / spawn_rate + 300
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base),
        *("--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", f"{int(cap)}s"),
        *("--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"),
    ]
    started = time.time()
    with tempfile.TemporaryFile("w+") as stderr:
        locust = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        watched = psutil.Process(locust.pid)
        meter = CpuMeter(server, watched)
        deadline = time.monotonic() + cap + 60
        polls = 0
        while locust.poll() is None and time.monotonic() < deadline:
            if meter.start is None and Path(f"{results}.start").exists():
                meter.read("start")
            elif meter.start is not None and meter.end is None:
                if Path(f"{results}.end").exists():
                    meter.read("end")
                elif polls % 5 == 0:
                    meter.read()
            polls += 1
            time.sleep(0.1)
        if locust.poll() is None:
            locust.kill()
        returncode = locust.wait()
        stderr.seek(0)
        if returncode != 0 or not results.exists():
            raise RuntimeError(f"locust failed ({returncode}):\n{stderr.read()[-3000:]}")
    data = json.loads(results.read_text())
    used = meter.used() if meter.start is not None and meter.end is not None else None
    return data, (data["window"][0] - started if data["window"] else float("nan")), used


def summarise(users: int, data: dict, used: dict | None, signed_in_after: float) -> tuple[int, float]:
    """Print the table of one user count; return its errors and its overall p95 (ms)."""
    window = data["window"]
    seconds = window[1] - window[0] if len(window) == 2 else float("nan")
    errors = data["errors"]
    load = f"load average {used['load'][0]:.2f} -> {used['load'][1]:.2f}" if used else "no CPU samples"
    print(
        f"\n{users} families: all signed in after {signed_in_after:.1f} s, then {seconds:.1f} s measured ({load})"
    )
    print(f"  {'page':10s} {'requests':>8s} {'req/s':>7s} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'errors':>7s}")

    def row(name: str, times: list[float], failed: int) -> None:
        figures = [f"{percentile(times, pct):5.0f} ms" if times else "      -" for pct in (50, 95, 99)]
        print(f"  {name:10s} {len(times):8d} {len(times) / seconds:7.1f} {' '.join(figures)} {failed:7d}")

    every = [ms for _name, ms in data["pages"]]
    for name in PAGES:
        row(name, [ms for page, ms in data["pages"] if page == name], sum(1 for e in errors if e[0] == name))
    row("all pages", every, sum(1 for e in errors if e[0] in PAGES))
    if used and every:
        ours = sum(used[group] for _label, group in GROUPS)
        print(
            "  CPU in the window: "
            + ", ".join(
                f"{label} {used[group]:.2f} s ({used[group] * 1000 / len(every):.1f} ms a page)"
                for label, group in GROUPS
            )
            + f"; interrupts {used['interrupts']:.1f} s, the rest of the machine"
            f" {used['machine'] - used['interrupts'] - ours:.1f} s;"
            f" machine busy {used['machine'] / used['time'] / os.cpu_count():.0%} of {os.cpu_count()} cores"
        )
    other = [e for e in errors if e[0] not in PAGES]
    if other:
        print(f"  sign-in errors: {len(other)}")
    for name, error in errors[:10]:
        print(f"  error: {name}: {error}")
    if data["signed_in"] != users:
        print(f"  only {data['signed_in']} of {users} families started")
    failed = len(errors) + (0 if every else 1) + (0 if data["signed_in"] == users else 1)
    return failed, (percentile(every, 95) if every else float("inf"))


def bench(args) -> int:
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    started = time.perf_counter()
    emails = seed(max(args.users), args.communes)
    print(
        f"seeded {len(emails)} families in {args.communes} communes in {time.perf_counter() - started:.1f} s"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    think_max = float(args.think.split(",")[-1])
    keep_alive = int(args.keep_alive if args.keep_alive is not None else think_max + 2)
    failures = 0
    met = None
    with tempfile.TemporaryDirectory() as tmp:
        accounts_file = Path(tmp) / "accounts.txt"
        accounts_file.write_text("\n".join(emails))
        with open(Path(tmp) / "server.log", "w") as log:
            server = start_server(args, port, log, gunicorn_options=("--keep-alive", str(keep_alive)))
            try:
                wait_until_up(server, base)
                print(
                    f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                    f"gunicorn gthread {args.workers}x{args.threads}, keep-alive {keep_alive} s; "
                    f"{args.communes} communes; think {args.think} s; {args.duration} s measured per user count"
                )
                check_pages(base, emails[0])
                for users in args.users:
                    data, signed_in_after, used = run_locust(
                        base, users, args, accounts_file, Path(tmp) / f"u{users}.json", server
                    )
                    failed, p95 = summarise(users, data, used, signed_in_after)
                    failures += failed
                    if users == TARGET_USERS:
                        met = failed == 0 and p95 <= TARGET_P95_MS
            finally:
                stop_server(server)
    if met is not None:
        print(
            f"\ntarget (p95 <= {TARGET_P95_MS} ms at {TARGET_USERS} families, no error): {'met' if met else 'NOT met'}"
        )
    print("check: " + ("no error" if not failures else f"{failures} errors or failed checks (see above)"))
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
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="families started per second (users/10, at least 5)"
    )
    parser.add_argument(
        "--keep-alive", type=int, default=None, help="gunicorn keep-alive seconds (longest think time + 2)"
    )
    parser.add_argument("--server", default="gunicorn", help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)  # start_server's: DEBUG off
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    return run_in_bench_database(BENCH_DB, bench, args, keep_db=args.keep_db)


if __name__ == "__main__":
    sys.exit(main())
