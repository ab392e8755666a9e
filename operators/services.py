"""Writes of the operator console that are not about one commune (those live in
``tenants.services``): the record of failed Celery tasks."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .models import TaskFailure

FAILURE_RETENTION_DAYS = 30
_MAX_EXCEPTION = 2000
_MAX_TRACEBACK = 20000


def record_task_failure(
    *,
    task_name: str,
    task_id: str = "",
    schema_name: str = "",
    exception: str,
    traceback: str = "",
    failed_at: dt.datetime | None = None,
) -> TaskFailure:
    """Keep one failed task run for the health page, and forget those older than the retention.

    Not durable: a task run eagerly (tests, a caller's ``apply()``) fails inside the caller's
    transaction, and the record then shares its fate.
    """
    failed_at = failed_at or timezone.now()
    with transaction.atomic():
        failure = TaskFailure.objects.create(
            task_name=task_name[:200],
            task_id=(task_id or "")[:64],
            schema_name=(schema_name or "")[:63],
            exception=exception[:_MAX_EXCEPTION],
            traceback=traceback[-_MAX_TRACEBACK:],
            failed_at=failed_at,
        )
        TaskFailure.objects.filter(
            failed_at__lt=failed_at - dt.timedelta(days=FAILURE_RETENTION_DAYS)
        ).delete()
    return failure
