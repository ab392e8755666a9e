"""What the benchmarks share: a database of their own, and percentiles.

Each benchmark runs in its own database on DATABASE_URL's server (or the embedded one),
dropped and created again, so nobody's data is touched."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]


def admin_conninfo() -> str:
    url = urlsplit(os.environ["DATABASE_URL"])
    admin_url = urlunsplit(url._replace(path="/postgres"))
    return admin_url.replace("postgresql://postgres:@/", "postgresql://postgres@/")


def use_bench_database(name: str, *, fresh: bool = True) -> None:
    """Point DATABASE_URL at a fresh database `name` (before Django is set up); with
    ``fresh=False``, at the one a run kept (--keep-db), created if missing."""
    import psycopg

    from foyer import embedded

    embedded.ensure_services()
    conninfo = admin_conninfo()
    url = urlsplit(os.environ["DATABASE_URL"])
    os.environ["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not fresh and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_bench_database(name: str) -> None:
    import psycopg

    with psycopg.connect(admin_conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def run_in_bench_database(name: str, run, args, *, keep_db: bool = False, fresh: bool = True) -> int:
    """Run ``run(args)`` with Django set up on a fresh database ``name`` (or the kept one,
    ``fresh=False``); drop it afterwards unless ``keep_db``."""
    use_bench_database(name, fresh=fresh)
    try:
        os.environ["DJANGO_SETTINGS_MODULE"] = "foyer.settings.local"
        import django

        django.setup()
        return run(args)
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        if not keep_db:
            drop_bench_database(name)
