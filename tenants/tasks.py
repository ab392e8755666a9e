"""Tenant-aware Celery tasks: every task that touches commune data carries its schema.

    @app.task(base=TenantTask)
    def send_something(thing_id): ...

    enqueue_on_commit(send_something, schema_name=commune.schema_name, thing_id=thing.pk)

A TenantTask called without ``schema_name`` fails loudly instead of running in whatever
schema the worker's connection last used. ``enqueue_on_commit`` writes the task in the
transactional outbox (``tenants.outbox``): a broker outage delays it, never loses it.
"""

from __future__ import annotations

from celery import Task
from django.db import connection

from foyer.celery import app

from . import outbox
from .context import TenantContextMissing


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
    """Write the tenant task in the outbox, in the current transaction: it goes to Celery once
    that transaction commits (at once, or from the relay when the broker is away)."""
    if not schema_name:
        raise TenantContextMissing(f"Task {task.name} needs schema_name= to know its commune.")
    outbox.enqueue(task, schema_name=schema_name, **kwargs)


def send_to_every_commune(task: Task, **kwargs) -> None:
    """Beat's fan-out: one task per active commune, each carrying its schema."""
    from .models import Commune

    for schema_name in Commune.objects.filter(status=Commune.Status.ACTIVE).values_list(
        "schema_name", flat=True
    ):
        task.apply_async(kwargs={**kwargs, "schema_name": schema_name})


@app.task
def relay_outbox() -> int:
    """Beat, every few seconds: hand the outbox's pending messages to Celery."""
    return outbox.relay_pending()


@app.task
def purge_outbox() -> int:
    """Beat, daily: forget the messages sent more than a week ago."""
    return outbox.purge_sent()
