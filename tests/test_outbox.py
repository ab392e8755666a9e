"""The transactional outbox (tenants.outbox): e-mails and tasks are written with their cause,
survive a broker outage, and are handed to Celery exactly once."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from family import data_rights
from foyer.celery import app
from operators.health import ATTENTION, OK, get_platform_health
from shared_identity.models import DataExport
from tenants import outbox
from tenants.models import OutboxMessage
from tests.billing.conftest import issue_january
from tests.conftest import make_account, make_family
from tests.reservations.conftest import make_catalogue
from tests.test_profile import private_files

__all__ = ["private_files"]  # the fixture, imported for these tests

SEND_EMAIL = "shared_identity.tasks.send_email"


def _email(**overrides) -> dict:
    return {
        "subject": "Bonjour",
        "body": "Un message.",
        "to": ["parent@example.fr"],
        "html": None,
        **overrides,
    }


# --- written with its cause ---------------------------------------------------------------


def test_a_rolled_back_change_leaves_no_message(db, django_capture_on_commit_callbacks):
    # when the transaction that wrote the message rolls back
    with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(RuntimeError):
        with transaction.atomic():
            outbox.enqueue(SEND_EMAIL, **_email())
            raise RuntimeError("the change fails")
    # then nothing is written, nothing sent
    assert not OutboxMessage.objects.exists()
    assert mail.outbox == []


def test_a_committed_message_is_sent_at_once_and_keeps_no_payload(db, django_capture_on_commit_callbacks):
    # when a change commits with its e-mail (tests run tasks eagerly)
    with django_capture_on_commit_callbacks(execute=True):
        message = outbox.enqueue(SEND_EMAIL, topic="greeting", **_email())
    # then the fast path sent it and marked it sent, without the body it carried
    assert [m.subject for m in mail.outbox] == ["Bonjour"]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.kwargs, message.topic) == ("sent", 1, {}, "greeting")
    assert message.sent_at is not None
    # and the relay finds nothing more to send
    assert outbox.relay_pending() == 0
    assert len(mail.outbox) == 1


# --- broker away: the message waits, with backoff -------------------------------------------


@contextlib.contextmanager
def broker_at(url: str):
    """Celery's broker pointed at ``url``, tasks really sent (not eager)."""
    previous = (app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.broker_url = url
    app.conf.task_always_eager = False
    app.conf.task_default_queue = f"foyer-test-outbox-{uuid.uuid4().hex[:8]}"
    _reset_pools()
    try:
        yield app.conf.task_default_queue
    finally:
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = previous
        _reset_pools()


def _reset_pools() -> None:
    app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_the_broker_away_the_message_waits_and_backs_off(db):
    message = OutboxMessage.objects.create(task=SEND_EMAIL, kwargs=_email(), available_at=timezone.now())
    with broker_at(f"redis://127.0.0.1:{_free_port()}/0"):
        # when the relay runs twice while nothing listens on the broker's port
        started = time.monotonic()
        assert outbox.relay_pending() == 0
        elapsed = time.monotonic() - started
        message.refresh_from_db()
        first_retry = message.available_at
        OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())
        assert outbox.relay_pending() == 0
    # then it is still pending, with its error and a growing wait, and it failed fast
    message.refresh_from_db()
    assert (message.status, message.attempts, message.kwargs) == ("pending", 2, _email())
    assert message.last_error.startswith("OperationalError: ")
    assert elapsed < 3
    assert first_retry - timezone.now() <= dt.timedelta(seconds=10)
    assert message.available_at - timezone.now() > dt.timedelta(seconds=15)
    assert mail.outbox == []


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert outbox.backoff(30) == dt.timedelta(hours=1)


def test_a_message_claimed_by_one_relay_is_skipped_by_another(committed_db):
    # given a pending message, and a first relay that holds its row (its claim not committed)
    message = OutboxMessage.objects.create(task=SEND_EMAIL, kwargs=_email(), available_at=timezone.now())
    claimed, release = threading.Event(), threading.Event()

    def first_relay():
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(pk=message.pk))
                claimed.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=first_relay)
    thread.start()
    try:
        assert claimed.wait(10)
        # when a second relay runs meanwhile, it skips the locked row instead of waiting for it
        assert outbox.relay_pending() == 0
        assert outbox.relay_message(message.pk) is False
    finally:
        release.set()
        thread.join()
    assert mail.outbox == []
    # and once claimed by a relay (lease), another relay does not take it either
    assert [m.pk for m in outbox._claim(OutboxMessage.objects.all(), now=timezone.now(), limit=10)] == [
        message.pk
    ]
    assert outbox._claim(OutboxMessage.objects.all(), now=timezone.now(), limit=10) == []


def test_the_management_command_relays_what_waits(db, capsys):
    OutboxMessage.objects.create(task=SEND_EMAIL, kwargs=_email(), available_at=timezone.now())
    call_command("relay_outbox")
    assert capsys.readouterr().out.strip() == "1 message(s) transmis."
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    assert OutboxMessage.objects.get().status == "sent"


def test_sent_messages_are_purged_after_a_week(db):
    now = timezone.now()
    old = OutboxMessage.objects.create(
        task=SEND_EMAIL, status="sent", sent_at=now - dt.timedelta(days=8), available_at=now
    )
    recent = OutboxMessage.objects.create(
        task=SEND_EMAIL, status="sent", sent_at=now - dt.timedelta(days=1), available_at=now
    )
    waiting = OutboxMessage.objects.create(
        task=SEND_EMAIL, available_at=now, created_at=now - dt.timedelta(days=9)
    )
    assert outbox.purge_sent(now=now) == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not OutboxMessage.objects.filter(pk=old.pk).exists()


def test_beat_relays_the_outbox_and_requeues_stuck_exports():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {
        "tenants.tasks.relay_outbox",
        "tenants.tasks.purge_outbox",
        "family.tasks.requeue_stuck_data_exports",
    } <= tasks


# --- the operators' health page ---------------------------------------------------------------


def test_health_shows_the_outbox_backlog(db):
    now = timezone.now()
    line = _outbox_line(now)
    assert (line.label, line.status, line.summary) == (
        "E-mails et tâches à transmettre (boîte d'envoi)",
        OK,
        "Aucun message en attente : tout a été transmis.",
    )
    # given two messages waiting, the oldest for 12 minutes, one of which failed
    OutboxMessage.objects.create(task=SEND_EMAIL, available_at=now)
    OutboxMessage.objects.filter(pk=OutboxMessage.objects.get().pk).update(
        created_at=now - dt.timedelta(minutes=12)
    )
    OutboxMessage.objects.create(
        task=SEND_EMAIL, available_at=now, attempts=3, last_error="OperationalError: Connection refused."
    )
    OutboxMessage.objects.create(task=SEND_EMAIL, status="sent", sent_at=now, available_at=now)
    line = _outbox_line(now)
    assert line.status == ATTENTION
    assert line.summary == (
        "2 messages en attente, le plus ancien depuis 12 min. 1 n'a pas pu être transmis (nouvel essai "
        "automatique), dernière erreur : OperationalError: Connection refused."
    )


def _outbox_line(now):
    (line,) = [line for line in get_platform_health(now=now).lines if line.key == "outbox"]
    return line


# --- stuck data exports -----------------------------------------------------------------------


def test_a_stuck_data_export_is_queued_again_once(db, commune_a, django_capture_on_commit_callbacks):
    now = timezone.now()
    account = make_account("parent@example.fr")
    # given an export pending for 15 minutes whose task was lost, and a recent one
    stuck = DataExport.objects.create(account=account)
    DataExport.objects.filter(pk=stuck.pk).update(created_at=now - dt.timedelta(minutes=15))
    fresh = DataExport.objects.create(account=make_account("autre@example.fr"))
    # when beat looks for stuck exports (the broker away: nothing runs yet)
    assert data_rights.requeue_stuck_data_exports(now=now) == 1
    # then the stuck one is queued again, once: a second pass finds it queued
    (message,) = OutboxMessage.objects.all()
    assert (message.task, message.kwargs, message.topic) == (
        "family.tasks.build_data_export_task",
        {"export_id": stuck.pk},
        f"data_export:{stuck.pk}",
    )
    assert data_rights.requeue_stuck_data_exports(now=now) == 0
    # and 30 minutes later only the other export, never queued, is: the first still waits
    assert data_rights.requeue_stuck_data_exports(now=now + dt.timedelta(minutes=30)) == 1
    assert sorted(OutboxMessage.objects.values_list("topic", flat=True)) == sorted(
        [f"data_export:{stuck.pk}", f"data_export:{fresh.pk}"]
    )
    # and once relayed, the archives are built
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.relay_pending() == 2
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, fresh.status) == ("ready", "ready")


def test_a_data_export_queued_lately_is_not_queued_again(db):
    now = timezone.now()
    export = DataExport.objects.create(account=make_account("parent@example.fr"))
    DataExport.objects.filter(pk=export.pk).update(created_at=now - dt.timedelta(minutes=30))
    # given its task was handed to Celery 5 minutes ago (a slow build, not a lost one)
    OutboxMessage.objects.create(
        task="family.tasks.build_data_export_task",
        topic=f"data_export:{export.pk}",
        status="sent",
        sent_at=now - dt.timedelta(minutes=5),
        available_at=now,
    )
    OutboxMessage.objects.update(created_at=now - dt.timedelta(minutes=5))
    assert data_rights.requeue_stuck_data_exports(now=now) == 0
    # but 10 minutes later with the export still pending, it is
    assert data_rights.requeue_stuck_data_exports(now=now + dt.timedelta(minutes=10)) == 1


# --- Redis down: nothing lost, no error, each e-mail once ------------------------------------


class ThrowAwayRedis:
    """A redis-server of its own on a free loopback port, stopped and restarted at will."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def throw_away_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = ThrowAwayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_with_redis_down_nothing_is_lost_and_each_email_is_sent_once(
    committed_db, throw_away_redis, client, private_files
):
    # given a family of JolieVille with an account, and the broker on a Redis of its own
    from tenants.models import Commune

    commune = Commune.objects.get(slug="jolieville")
    membership = make_family(commune, email="parent@example.fr")
    catalogue = make_catalogue(commune)
    mail.outbox.clear()
    with broker_at(throw_away_redis.url) as queue:
        # when Redis goes down
        throw_away_redis.stop()
        # and the family asks for a password reset, then for its data, and the commune issues
        # an invoice
        started = time.monotonic()
        reset = client.post("/mot-de-passe/oubli/", {"email": "parent@example.fr"})
        assert time.monotonic() - started < 3
        client.force_login(membership.family.guardians.get().account)
        export_response = client.post("/compte/donnees/")
        invoice = issue_january(catalogue, membership.family)
        # then every request succeeded, nothing left, and everything waits in the outbox
        assert (reset.status_code, reset["Location"]) == (302, "/mot-de-passe/oubli/envoye/")
        assert export_response.status_code == 302
        assert mail.outbox == []
        export = DataExport.objects.get()
        assert export.status == "pending"
        waiting = OutboxMessage.objects.filter(status="pending").order_by("id")
        assert [(m.task, m.attempts) for m in waiting] == [
            ("shared_identity.tasks.send_email", 1),
            ("family.tasks.build_data_export_task", 1),
            ("billing.tasks.send_invoice_emails", 1),
        ]
        assert waiting[2].schema_name == "c_jolieville"
        assert all(m.last_error.startswith("OperationalError") for m in waiting)

        # when Redis is back, a worker listens, and the relay runs (messages due now)
        throw_away_redis.start()
        OutboxMessage.objects.update(available_at=timezone.now())
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10):
            assert outbox.relay_pending() == 3
            # then each e-mail arrives once: the reset link, the invoice, and the archive ready
            # (whose e-mail the worker wrote in the outbox and handed over itself)
            assert _wait_for(lambda: len(mail.outbox) == 3), [m.subject for m in mail.outbox]
            assert _wait_for(lambda: not OutboxMessage.objects.filter(status="pending").exists())
            # and a second relay run sends nothing more
            assert outbox.relay_pending() == 0
            time.sleep(1)
        assert sorted(m.subject for m in mail.outbox) == [
            f"Commune de JolieVille : nouvelle facture {invoice.reference}",
            "Foyer : choisir un nouveau mot de passe",
            "Vos données Foyer sont prêtes",
        ]
        assert all(m.to == ["parent@example.fr"] for m in mail.outbox)
        export.refresh_from_db()
        assert export.status == "ready"
        assert OutboxMessage.objects.filter(status="sent").count() == 4
