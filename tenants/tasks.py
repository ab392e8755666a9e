"""Tenant-aware Celery tasks: every task that touches commune data carries its schema.

    @app.task(base=TenantTask)
    def send_something(thing_id): ...

    enqueue_on_commit(send_something, schema_name=commune.schema_name, thing_id=thing.pk)

A TenantTask called without ``schema_name`` fails loudly instead of running in whatever
schema the worker's connection last used.
"""

from __future__ import annotations

import logging

from celery import Task
from django.db import connection, transaction

from .context import TenantContextMissing

logger = logging.getLogger(__name__)


class TenantTask(Task):
    abstract = True
    # schema_name is not in the task function's signature: __call__ takes it.
    typing = False

    def __call__(self, *args, **kwargs):
        from .models import Commune

        schema_name = kwargs.pop("schema_name", None)
        if not schema_name:
            raise TenantContextMissing(f"Task {self.name} needs schema_name= to know its commune.")
        previous = connection.tenant
        connection.set_schema_to_public()
        commune = Commune.objects.get(schema_name=schema_name)
        connection.set_tenant(commune)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            # Back where the caller was (public in a worker; the caller's commune when a task
            # runs eagerly).
            if previous is None or previous.schema_name == "public":
                connection.set_schema_to_public()
            else:
                connection.set_tenant(previous)


def enqueue_on_commit(task: Task, *, schema_name: str, **kwargs) -> None:
    """Send a tenant task once the current transaction commits (never from inside it)."""
    if not schema_name:
        raise TenantContextMissing(f"Task {task.name} needs schema_name= to know its commune.")

    def send() -> None:
        try:
            task.apply_async(kwargs={**kwargs, "schema_name": schema_name})
        except Exception:
            # The write is committed; a broker outage must not turn it into an error page.
            # What was to be sent stays visible as not sent (e.g. an invitation "en cours
            # d'envoi") and can be sent again.
            logger.exception("Could not enqueue %s for %s", task.name, schema_name)

    transaction.on_commit(send)


def send_to_every_commune(task: Task, **kwargs) -> None:
    """Beat's fan-out: one task per active commune, each carrying its schema."""
    from .models import Commune

    for schema_name in Commune.objects.filter(status=Commune.Status.ACTIVE).values_list(
        "schema_name", flat=True
    ):
        task.apply_async(kwargs={**kwargs, "schema_name": schema_name})
