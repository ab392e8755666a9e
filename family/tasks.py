"""The family layer's tasks: activation links for many dossiers (in the commune's schema),
and the data rights (platform-wide, entering each commune explicitly)."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import connection

from foyer.celery import app
from tenants.tasks import TenantTask

from .imports import send_family_invitations_now

logger = logging.getLogger(__name__)


@app.task(base=TenantTask)
def send_family_invitations(*, membership_ids: list[int], actor_id: int | None) -> int:
    """Activation links for a batch of dossiers (the console's bulk action), one by one through
    send_family_invitation, in the commune's schema."""
    return send_family_invitations_now(
        commune=connection.tenant, membership_ids=membership_ids, actor_id=actor_id
    )


@contextmanager
def _in_public_schema():
    """Platform tasks run in the public schema, and give the caller's schema back (eager runs)."""
    previous = connection.tenant
    connection.set_schema_to_public()
    try:
        yield
    finally:
        if previous is not None and previous.schema_name != "public":
            connection.set_tenant(previous)


@app.task
def build_data_export_task(*, export_id: int) -> None:
    """ "Télécharger mes données". Not a TenantTask: it reads every commune of the family,
    entering each one explicitly (tenants.context.commune_context)."""
    from .data_rights import build_data_export, mark_data_export_failed

    with _in_public_schema():
        try:
            build_data_export(export_id=export_id)
        except Exception:
            logger.exception("Data export %s failed", export_id)
            connection.set_schema_to_public()
            mark_data_export_failed(export_id=export_id)


@app.task
def complete_pending_deletions() -> int:
    """Daily (beat): anonymise the accounts whose deletion waited for invoices now paid."""
    from .data_rights import complete_pending_deletions as complete

    with _in_public_schema():
        return complete()


@app.task
def expire_data_exports() -> int:
    """Daily (beat): delete the data archives past their 7 days."""
    from .data_rights import expire_data_exports as expire

    with _in_public_schema():
        return expire()


@app.task
def requeue_stuck_data_exports() -> int:
    """Every few minutes (beat): the data exports whose task was lost are queued again."""
    from .data_rights import requeue_stuck_data_exports as requeue

    with _in_public_schema():
        return requeue()


@app.task
def check_identity_references() -> int:
    """Daily (beat): commune rows whose account, family or child id points at nothing (the
    commune schemas keep plain ids of the public identity rows). Returns how many were found."""
    from .identity import check_identity_references as check

    with _in_public_schema():
        return sum(orphan.count for orphan in check())
