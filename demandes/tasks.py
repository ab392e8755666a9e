"""Request e-mails to families: each task runs in its commune's schema (TenantTask)."""

from __future__ import annotations

from django.urls import reverse

from foyer.celery import app
from shared_identity import notifications
from tenants.middleware import commune_urlconf
from tenants.tasks import TenantTask

from .models import Request, RequestEvent


@app.task(base=TenantTask)
def notify_request_event(*, event_id: int) -> None:
    """A decision on a family's request, or a message of the commune: e-mail the guardians
    who want to hear about their requests."""
    from django.db import connection

    event = RequestEvent.objects.select_related("request__child").filter(pk=event_id).first()
    if event is None or event.side != RequestEvent.Side.COMMUNE:
        return
    request = event.request
    decision = event.kind == RequestEvent.Kind.STATUS and event.to_status in Request.DECIDED
    path = reverse(
        "commune_demandes:detail", args=[request.pk], urlconf=commune_urlconf(connection.tenant.slug)
    )
    notifications.notify_families(
        family_ids=[request.family_id],
        kind="request",
        template="request_decision" if decision else "request_message",
        context={
            "request": request,
            "event": event,
            "status_label": Request.Status(event.to_status).label if event.to_status else "",
            "path": path,
        },
    )
