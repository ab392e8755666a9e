"""The family layer's tasks."""

from __future__ import annotations

from django.db import connection

from foyer.celery import app
from tenants.tasks import TenantTask

from .imports import send_family_invitations_now


@app.task(base=TenantTask)
def send_family_invitations(*, membership_ids: list[int], actor_id: int | None) -> int:
    """Activation links for a batch of dossiers (the console's bulk action), one by one through
    send_family_invitation, in the commune's schema."""
    return send_family_invitations_now(
        commune=connection.tenant, membership_ids=membership_ids, actor_id=actor_id
    )
