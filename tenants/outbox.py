"""The transactional outbox: a task that must run (an e-mail is sent by a task too) is written
as a row in the same transaction as the change that causes it, then handed to Celery.

    outbox.enqueue(build_data_export_task, export_id=export.pk)
    outbox.enqueue(send_receipt_email, schema_name=connection.schema_name, receipt_id=receipt.pk)

Rolled back, the row is gone and nothing runs. Committed, it is handed to the broker at once
(the fast path, after commit, failing within about a second when the broker is away, never
raising) or later by the relay (``relay_pending``: the beat task ``tenants.tasks.relay_outbox``
and ``manage.py relay_outbox``), with exponential backoff between attempts. A broker outage
delays a message, never drops it, and never turns the request that caused it into an error.

Exactly one relay hands a given message over: a relay claims rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and moves their ``available_at`` past a lease before
committing the claim, so a concurrent relay skips them; the broker call itself runs outside
any transaction (an eager task may open its own durable one). A relay that dies between the
broker call and marking the row sent hands it over again once the lease ends: tasks stay
idempotent, as they already must be under Celery's at-least-once delivery.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import Task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import OutboxMessage

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
# How long a claimed message is left to the relay that took it.
LEASE = dt.timedelta(minutes=5)
BACKOFF_FIRST = dt.timedelta(seconds=10)
BACKOFF_MAX = dt.timedelta(hours=1)
# Sent rows (payload already dropped) are kept this long for the record, then deleted.
SENT_KEPT = dt.timedelta(days=7)
# The relay's broker call: a few quick reconnections (a broker back after a restart leaves
# stale pooled connections), never the long default retry loop.
RELAY_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def enqueue(task: Task | str, *, schema_name: str = "", topic: str = "", **kwargs) -> OutboxMessage:
    """Write the message in the current transaction; hand it to Celery once it commits.

    ``task`` is a Celery task or its registered name; ``kwargs`` must be JSON. A commune's
    task (``TenantTask``) gets ``schema_name``; a platform task leaves it empty. ``topic``
    names what the message is about, for ``queued_since``."""
    name = task if isinstance(task, str) else task.name
    message = OutboxMessage.objects.create(
        task=name, kwargs=kwargs, schema_name=schema_name or "", topic=topic, available_at=timezone.now()
    )
    message_id = message.pk
    transaction.on_commit(lambda: relay_message(message_id))
    return message


def queued_since(topic: str, *, since: dt.datetime) -> bool:
    """Whether a message about ``topic`` still waits in the outbox, or was written since."""
    return (
        OutboxMessage.objects.filter(topic=topic)
        .filter(Q(status=OutboxMessage.Status.PENDING) | Q(created_at__gte=since))
        .exists()
    )


def relay_message(message_id: int) -> bool:
    """The fast path: hand one message over right after its commit, in one quick try. True
    when Celery took it; False leaves it to the relay (broker away, or another relay has it)."""
    messages = _claim(OutboxMessage.objects.filter(pk=message_id), now=timezone.now(), limit=1)
    return bool(messages) and _hand_over(messages[0], retry=False) is _SENT


def relay_pending(*, now: dt.datetime | None = None, limit: int = BATCH_SIZE) -> int:
    """Hand every pending message that is due to Celery, a batch at a time, until none is due
    or the broker fails. Returns the number handed over."""
    sent = 0
    while True:
        messages = _claim(OutboxMessage.objects.all(), now=now or timezone.now(), limit=limit)
        if not messages:
            return sent
        for index, message in enumerate(messages):
            outcome = _hand_over(message, retry=True)
            if outcome is _SENT:
                sent += 1
            elif outcome is _BROKER_AWAY:
                # The broker is away: give the rest of the batch back for the next run.
                ids = [m.pk for m in messages[index + 1 :]]
                OutboxMessage.objects.filter(pk__in=ids, status=OutboxMessage.Status.PENDING).update(
                    available_at=timezone.now()
                )
                return sent
        if len(messages) < limit:
            return sent


def purge_sent(*, now: dt.datetime | None = None) -> int:
    """Delete the record of messages sent more than SENT_KEPT ago."""
    cutoff = (now or timezone.now()) - SENT_KEPT
    deleted, _ = OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT, sent_at__lt=cutoff).delete()
    return deleted


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s… up to an hour."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _claim(queryset, *, now: dt.datetime, limit: int) -> list[OutboxMessage]:
    with transaction.atomic():
        messages = list(
            queryset.select_for_update(skip_locked=True)
            .filter(status=OutboxMessage.Status.PENDING, available_at__lte=now)
            .order_by("available_at", "id")[:limit]
        )
        if messages:
            OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
                available_at=timezone.now() + LEASE
            )
    return messages


_SENT, _BROKER_AWAY, _FAILED = "sent", "broker away", "failed"


def _hand_over(message: OutboxMessage, *, retry: bool) -> str:
    """Give the message to Celery and record the outcome on its row. Never raises."""
    from foyer.celery import app

    attempts = message.attempts + 1
    try:
        task = _task(app, message.task)
        kwargs = (
            {**message.kwargs, "schema_name": message.schema_name} if message.schema_name else message.kwargs
        )
        task.apply_async(kwargs=kwargs, retry=retry, retry_policy=RELAY_RETRY_POLICY)
    except Exception as exc:
        broker = _is_broker_error(exc)
        (logger.warning if broker else logger.exception)(
            "Outbox message %s (%s) not handed over: %s", message.pk, message.task, exc
        )
        OutboxMessage.objects.filter(pk=message.pk, status=OutboxMessage.Status.PENDING).update(
            attempts=attempts,
            available_at=timezone.now() + backoff(attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        return _BROKER_AWAY if broker else _FAILED
    OutboxMessage.objects.filter(pk=message.pk, status=OutboxMessage.Status.PENDING).update(
        status=OutboxMessage.Status.SENT, sent_at=timezone.now(), attempts=attempts, kwargs={}, last_error=""
    )
    return _SENT


def _task(app, name: str) -> Task:
    if name not in app.tasks:
        # A process that never imported the task modules (a management command).
        app.loader.import_default_modules()
    return app.tasks[name]


def _is_broker_error(exc: Exception) -> bool:
    from kombu.exceptions import OperationalError

    return isinstance(exc, (OperationalError, ConnectionError, TimeoutError, OSError))
