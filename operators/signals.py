"""Celery's ``task_failure`` signal → a ``TaskFailure`` row the health page lists.

Connected in ``OperatorsConfig.ready()``, so in the web processes and in every worker (the
worker sets Django up before it runs a task). Runs in the process where the task failed.
"""

from __future__ import annotations

import logging

from django.db import connection

logger = logging.getLogger(__name__)


def record_failed_task(
    sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **extra
):
    """Never raises: a failure to record a failure is logged, the worker goes on."""
    from .services import record_task_failure

    try:
        schema_name = (kwargs or {}).get("schema_name") or ""
        if not schema_name and connection.schema_name != "public":
            schema_name = connection.schema_name
        record_task_failure(
            task_name=getattr(sender, "name", None) or str(sender),
            task_id=task_id or "",
            schema_name=schema_name,
            exception=f"{type(exception).__name__}: {exception}",
            traceback=str(einfo.traceback) if einfo is not None else "",
        )
    except Exception:
        logger.exception(
            "Could not record the failure of task %s (%s)", getattr(sender, "name", sender), task_id
        )
