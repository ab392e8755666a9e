"""Benchmark: many families book the last places of one day at the same moment, over HTTP.

    python bench/booking_burst.py [--clients 40] [--capacity 25] [--workers 4] [--threads 10]

One commune, one site, one month-end prestation with --capacity places a day and no booking
deadline; --clients families, each with an account, a child and an enrolment. The real web
server (gunicorn, foyer.wsgi, foyer.settings.local) runs in a subprocess on a free port of
127.0.0.1. Every client signs in first, then all of them, released together by a barrier,
POST the same day to /c/<slug>/panier/ajouter/ and at once POST /panier/valider/.

Prints the places confirmed (read in the database: it must be min(clients, capacity)), the
validations refused, the wall time of the burst, the throughput and the latencies, the time
of one sign-in (and of the configured password hasher's verify alone), the load average of
the machine, and whether each target of a rush is met (0 over-booking, >= 100 validations/s,
the whole burst answered within 2.5 s, validation p95 <= 1 s). Exits 1 when the places
confirmed are not min(clients, capacity), or when the database, the slot counter and the HTTP
answers disagree: a correctness failure, never a timing one.

It runs in its own database (`foyer_bench_booking`) on the configured PostgreSQL
(DATABASE_URL, or the embedded one), dropped and created again: your data is not touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import admin_conninfo, percentile, run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_booking"
PASSWORD = "Burst-de-reservations-2026"
SLUG = "rafale"
# The targets of a rush (printed, never an exit status: timing depends on the machine).
TARGET_THROUGHPUT = 100.0  # validations per second
TARGET_WALL = 2.5  # seconds, first add-to-cart sent to last validation answered
TARGET_VALIDATION_P95 = 1.0  # seconds
# Every request gets (connect, read) timeouts; the loops below are bounded.
TIMEOUT = (5, 120)
SERVER_START_SECONDS = 90
BARRIER_SECONDS = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def booking_day(today: dt.date) -> dt.date:
    """A weekday at least a week ahead, not a public holiday."""
    from reservations.holidays import is_public_holiday

    day = today + dt.timedelta(days=7)
    for _attempt in range(60):
        if day.weekday() < 5 and not is_public_holiday(day):
            return day
        day += dt.timedelta(days=1)
    raise RuntimeError("no open weekday found in the next two months")


# --- Setup (in this process) ------------------------------------------------------------------


def seed(clients: int, capacity: int) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone

    from operators.services import provision_commune
    from reservations.models import Enrolment, Prestation, PrestationSite, Service, Site
    from shared_identity.models import Account, Child, Family, Guardian, Membership
    from tenants import schemas
    from tenants.context import commune_context

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    schemas.ensure_template_schema()
    commune = provision_commune(name="Commune de la Rafale", slug=SLUG, admin_email="admin@rafale.test")
    type(commune).objects.filter(pk=commune.pk).update(opened_at=timezone.now())  # open to families
    day = booking_day(timezone.localdate())

    # One Argon2 hash for every account: hashing is the login's cost, not the setup's.
    password_hash = make_password(PASSWORD)
    accounts = Account.objects.bulk_create(
        Account(
            email=f"parent{n:04d}@rafale.test", password=password_hash, first_name="Parent", last_name=f"N{n}"
        )
        for n in range(clients)
    )
    families = Family.objects.bulk_create(Family(name=f"Famille {n:04d}") for n in range(clients))
    Guardian.objects.bulk_create(
        Guardian(
            family=family, account=account, first_name="Parent", last_name=family.name, email=account.email
        )
        for family, account in zip(families, accounts, strict=True)
    )
    children = Child.objects.bulk_create(
        Child(family=family, first_name=f"Enfant {n}", last_name=family.name, birth_date=dt.date(2018, 3, 1))
        for n, family in enumerate(families)
    )
    Membership.objects.bulk_create(
        Membership(
            family=family,
            commune=commune,
            dossier_number=f"R{n:05d}",
            status=Membership.Status.ACTIVE,
            activated_at=timezone.now(),
        )
        for n, family in enumerate(families)
    )
    with commune_context(commune):
        service = Service.objects.create(name="Restauration scolaire")
        site = Site.objects.create(name="École de la Rafale")
        site.services.add(service)
        prestation = Prestation.objects.create(
            service=service,
            label="Repas",
            code="REPAS",
            billing_mode=Prestation.BillingMode.MONTH_END,
            weekdays=[0, 1, 2, 3, 4],
            period=Prestation.Period.ALL,
            base_price=Decimal("4.05"),
            booking_rule={},  # no deadline
            cancellation_rule={},
            start_time=dt.time(12, 0),
        )
        PrestationSite.objects.create(prestation=prestation, site=site, capacity=capacity)
        Enrolment.objects.bulk_create(
            Enrolment(
                child=child,
                family_id=child.family_id,
                service=service,
                site=site,
                start=day - dt.timedelta(days=60),
                end=day + dt.timedelta(days=60),
            )
            for child in children
        )
    return {
        "commune": commune,
        "prestation": prestation,
        "site": site,
        "day": day,
        "clients": [(account.email, child.pk) for account, child in zip(accounts, children, strict=True)],
    }


def hasher_cost(repetitions: int = 5) -> tuple[str, float]:
    """The configured password hasher (its parameters) and the median time of one verify."""
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    hasher = get_hasher()
    encoded = make_password(PASSWORD)
    timings = []
    for _repetition in range(repetitions):
        started = time.perf_counter()
        check_password(PASSWORD, encoded)
        timings.append(time.perf_counter() - started)
    params = {
        key: getattr(hasher, key)
        for key in ("iterations", "time_cost", "memory_cost", "parallelism")
        if hasattr(hasher, key)
    }
    label = f"{hasher.algorithm} " + ", ".join(f"{key}={value}" for key, value in params.items())
    return label, statistics.median(timings)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0 where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return children


def cpu_snapshot(server_pid: int, database: str) -> dict[str, dict[int, float]]:
    """CPU used so far by the web server's processes, by the PostgreSQL backends of the bench
    database (same machine) and by this process (the clients' threads)."""
    import psycopg

    with psycopg.connect(admin_conninfo(), autocommit=True) as conn:
        backends = [
            row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        ]
    server = [server_pid, *_children(server_pid)]
    times = os.times()
    return {
        "web server": {pid: _cpu_of(pid) for pid in server},
        "PostgreSQL": {pid: _cpu_of(pid) for pid in backends},
        "clients (this process)": {0: times.user + times.system},
    }


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    return {
        name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in after[name].items())
        for name in after
    }


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def read_outcome(setup: dict) -> dict:
    from reservations.models import Booking, CartItem, Slot
    from tenants.context import commune_context

    keys = {"prestation": setup["prestation"], "site": setup["site"], "date": setup["day"]}
    with commune_context(setup["commune"]):
        bookings = Booking.objects.filter(**keys)
        slot = Slot.objects.filter(**keys).values_list("taken", flat=True).first()
        return {
            "confirmed": bookings.filter(status=Booking.Status.CONFIRMED).count(),
            "active": bookings.filter(status__in=Booking.ACTIVE).count(),
            "slot_taken": slot or 0,
            "cart_items": CartItem.objects.filter(**keys).count(),
        }


# --- The web server (a subprocess) -----------------------------------------------------------


def start_server(args, port: int, log, *, gunicorn_options: tuple[str, ...] = ()) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="foyer.settings.local",
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "platform"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        ),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        # As in production: DEBUG on costs every query its record in connection.queries.
        DEBUG="1" if args.debug else "0",
    )
    if args.server == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "foyer.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--timeout",
            "120",
            "--backlog",
            "2048",
            # No control socket: the default path is shared with any other gunicorn of the user.
            "--no-control-socket",
            *gunicorn_options,
        ]
    else:
        command = [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(server: subprocess.Popen, base: str) -> None:
    import requests

    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the web server exited with code {server.returncode}")
        try:
            if requests.get(f"{base}/connexion/", timeout=(1, 5)).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the web server did not answer within {SERVER_START_SECONDS} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()  # gunicorn: graceful shutdown of its workers
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)  # the group of the server we started, workers included
        server.wait(timeout=10)


# --- The clients ----------------------------------------------------------------------------------


def sign_in(base: str, email: str, timings: list[float]):
    import requests

    started = time.perf_counter()
    session = requests.Session()
    page = session.get(f"{base}/connexion/", timeout=TIMEOUT)
    page.raise_for_status()
    answer = session.post(
        f"{base}/connexion/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"sign-in of {email} failed: HTTP {answer.status_code}")
    timings.append(time.perf_counter() - started)
    # Drop the kept-alive connection (the cookies stay): the server closes idle ones after
    # two seconds, and a request sent at that moment on the old socket is reset. Each family
    # opens its own connection for the burst, as different devices do.
    for adapter in session.adapters.values():
        adapter.close()
    return session


def burst_client(session, base: str, form: dict, barrier: threading.Barrier, result: dict) -> None:
    import requests

    phase = "barrier"
    try:
        barrier.wait(timeout=BARRIER_SECONDS)
        phase = "add-to-cart"
        result["start"] = time.perf_counter()
        added = session.post(
            f"{base}/c/{SLUG}/panier/ajouter/",
            data={**form, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        result["added_at"] = time.perf_counter()
        result["add_status"] = added.status_code
        phase = "validation"
        validated = session.post(
            f"{base}/panier/valider/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        result["end"] = time.perf_counter()
        result["status"] = validated.status_code
        result["location"] = validated.headers.get("Location", "")
        if validated.status_code == 200:
            result["page"] = validated.text  # the cart again, with the refusal's message
    except (requests.RequestException, threading.BrokenBarrierError) as error:
        result["error"] = f"{phase}: {type(error).__name__}: {error}"
        result.setdefault("end", time.perf_counter())


def _refused(result: dict) -> bool:
    """A refused validation: the cart page again, with the reason (shown at once, 200, or
    after a redirect to it)."""
    status, location = result.get("status"), result.get("location", "")
    return status == 200 or (status == 302 and location.endswith("/panier/"))


def refusal_reasons(refused: list[tuple], base: str) -> dict[str, int]:
    """What the refused families read on their cart page (the messages of the refusal)."""
    reasons: dict[str, int] = {}
    for session, result in refused:
        page = result.get("page") or session.get(f"{base}/panier/", timeout=TIMEOUT).text
        if "plus de place disponible" in page:
            key = "plus de place disponible"
        elif "panier est vide" in page:
            key = "panier vide (ajout refusé)"
        else:
            key = "autre"
        reasons[key] = reasons.get(key, 0) + 1
    return reasons


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=40, help="families booking at the same moment")
    parser.add_argument("--capacity", type=int, default=25, help="places a day at the site")
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=10, help="gunicorn threads per worker")
    parser.add_argument("--login-parallelism", type=int, default=4, help="sign-ins at once before the burst")
    parser.add_argument("--debug", action="store_true", help="run the server with DEBUG on (off by default)")
    parser.add_argument("--database", default=BENCH_DB, help="the database created (and dropped) for the run")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.clients < 1 or args.capacity < 1:
        parser.error("--clients and --capacity must be at least 1")
    if not args.database.replace("_", "").isalnum():
        parser.error("--database: letters, digits and underscores only")

    return run_in_bench_database(args.database, run, args, keep_db=args.keep_db)


def run(args) -> int:
    from django.db import connection, connections

    load_before = load_average()
    setup_started = time.perf_counter()
    setup = seed(args.clients, args.capacity)
    setup_seconds = time.perf_counter() - setup_started
    pg_version = connection.pg_version // 10000
    hasher_label, verify_seconds = hasher_cost()
    connections.close_all()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    form = {"prestation": setup["prestation"].pk, "site": setup["site"].pk, "date": setup["day"].isoformat()}
    results = [{} for _client in setup["clients"]]
    log = tempfile.NamedTemporaryFile(prefix="foyer-bench-server-", suffix=".log", delete=False)
    server = start_server(args, port, log)
    try:
        wait_until_up(server, base)
        login_started = time.perf_counter()
        login_timings: list[float] = []
        with ThreadPoolExecutor(max_workers=max(1, args.login_parallelism)) as pool:
            sessions = list(
                pool.map(lambda client: sign_in(base, client[0], login_timings), setup["clients"])
            )
        login_seconds = time.perf_counter() - login_started
        load_burst = load_average()
        cpu_before = cpu_snapshot(server.pid, args.database)

        barrier = threading.Barrier(len(sessions))
        threads = [
            threading.Thread(
                target=burst_client,
                args=(session, base, {**form, "child": child_id}, barrier, result),
                daemon=True,
            )
            for session, (_email, child_id), result in zip(sessions, setup["clients"], results, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=BARRIER_SECONDS + 2 * TIMEOUT[1] + 10)
        burst_cpu = cpu_used(cpu_before, cpu_snapshot(server.pid, args.database))
        refused = [
            (session, result) for session, result in zip(sessions, results, strict=True) if _refused(result)
        ]
        reasons = refusal_reasons(refused, base)
    except BaseException:
        log.flush()
        tail = Path(log.name).read_text(errors="replace").splitlines()[-30:]
        print("\n".join(["--- server log (last lines) ---", *tail]), file=sys.stderr)
        raise
    finally:
        stop_server(server)
        log.close()

    outcome = read_outcome(setup)
    load_after = load_average()

    done = [r for r in results if "status" in r]
    errors = [r for r in results if "error" in r or "status" not in r]
    # Validation answers with a redirect: to its confirmation when booked, back to the cart when refused.
    validated = [r for r in done if r["status"] == 302 and r["location"].endswith("/panier/valide/")]
    refused = [r for r in done if _refused(r)]
    unexpected = [r for r in done if r not in validated and r not in refused]
    latencies = [r["end"] - r["added_at"] for r in done]
    add_latencies = [r["added_at"] - r["start"] for r in done]
    wall = (max(r["end"] for r in done) - min(r["start"] for r in done)) if done else float("nan")
    expected = min(args.clients, args.capacity)

    server_label = (
        f"gunicorn gthread {args.workers}x{args.threads}" if args.server == "gunicorn" else "runserver"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {pg_version}; server: {server_label}, "
        f"DB_CONN_MAX_AGE={os.environ.get('DB_CONN_MAX_AGE') or 60}, DEBUG={'on' if args.debug else 'off'}"
    )
    print(
        f"load average (1/5/15 min): {load_before} before setup, {load_burst} before the burst, "
        f"{load_after} after it"
    )
    print(
        f"setup {setup_seconds:.1f} s, {len(sessions)} sign-ins {login_seconds:.1f} s "
        f"({args.login_parallelism} at once); day booked {setup['day']}"
    )
    print(
        f"sign-in per family         p50 {percentile(login_timings, 50) * 1000:6.0f} ms   "
        f"p95 {percentile(login_timings, 95) * 1000:6.0f} ms   (GET and POST /connexion/)"
    )
    print(
        f"password hasher            {hasher_label}: one verify {verify_seconds * 1000:.0f} ms (in process)"
    )
    print(f"clients                    {args.clients:8d}")
    print(f"capacity                   {args.capacity:8d}")
    print(f"confirmed (database)       {outcome['confirmed']:8d}   expected {expected}")
    print(f"refused (HTTP)             {len(refused):8d}   {reasons}")
    print(f"added to carts (database)  {outcome['cart_items']:8d}")
    print(f"validated (to confirmation){len(validated):8d}")
    print(f"slot counter               {outcome['slot_taken']:8d}")
    print(f"errors / unexpected        {len(errors):8d} / {len(unexpected)}")
    print(f"burst wall time            {wall:8.2f} s   (first add-to-cart sent to last validation answered)")
    if done:
        print(f"throughput                 {len(done) / wall:8.1f} validations/s")
        print(
            f"validation latency         p50 {percentile(latencies, 50) * 1000:6.0f} ms   "
            f"p95 {percentile(latencies, 95) * 1000:6.0f} ms   max {max(latencies) * 1000:6.0f} ms"
        )
        print(
            f"add-to-cart latency        p50 {percentile(add_latencies, 50) * 1000:6.0f} ms   "
            f"p95 {percentile(add_latencies, 95) * 1000:6.0f} ms   "
            f"mean {statistics.mean(add_latencies) * 1000:6.0f} ms"
        )
    print(
        "CPU used during the burst       "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in burst_cpu.items())
        + f"   ({sum(burst_cpu.values()) / max(1, len(done) * 2) * 1000:.1f} ms a request; "
        f"{os.cpu_count()} cores x {wall:.2f} s = {(os.cpu_count() or 1) * wall:.2f} s available)"
    )
    if done:
        over = max(0, outcome["active"] - args.capacity)
        p95 = percentile(latencies, 95)
        throughput = len(done) / wall
        targets = [
            ("over-booking", f"{over}", over == 0, "0", f"{over} places over"),
            (
                "throughput",
                f"{throughput:.1f} validations/s",
                throughput >= TARGET_THROUGHPUT,
                f">= {TARGET_THROUGHPUT:.0f}/s",
                f"{TARGET_THROUGHPUT - throughput:.1f}/s short ({throughput / TARGET_THROUGHPUT:.0%})",
            ),
            (
                "burst wall time",
                f"{wall:.2f} s",
                wall <= TARGET_WALL,
                f"<= {TARGET_WALL} s",
                f"{wall - TARGET_WALL:.2f} s over",
            ),
            (
                "validation p95",
                f"{p95 * 1000:.0f} ms",
                p95 <= TARGET_VALIDATION_P95,
                f"<= {TARGET_VALIDATION_P95 * 1000:.0f} ms",
                f"{(p95 - TARGET_VALIDATION_P95) * 1000:.0f} ms over",
            ),
        ]
        for name, value, met, goal, miss in targets:
            verdict = "met" if met else f"NOT met: {miss}"
            print(f"target {name:20s}{value:>22s}   goal {goal:10s} {verdict}")
    for result in errors[:5]:
        print(f"  error: {result.get('error', 'no answer')}")
    for result in unexpected[:5]:
        print(f"  unexpected answer: HTTP {result['status']} {result['location']}")

    failures = []
    if outcome["confirmed"] != expected:
        failures.append(
            f"{outcome['confirmed']} places confirmed, expected min(clients, capacity) = {expected}"
        )
    if outcome["slot_taken"] != outcome["active"]:
        failures.append(f"the slot counts {outcome['slot_taken']} places, the bookings {outcome['active']}")
    if len(validated) != outcome["confirmed"]:
        failures.append(f"{len(validated)} families were told 'validated', {outcome['confirmed']} are booked")
    if errors or unexpected:
        failures.append(
            f"{len(errors)} requests failed, {len(unexpected)} unexpected answers (log: {log.name})"
        )
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: confirmed = min(clients, capacity), and the database, the slot and the answers agree")
        os.unlink(log.name)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
