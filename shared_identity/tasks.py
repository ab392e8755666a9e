from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from foyer.celery import app
from tenants.middleware import commune_urlconf
from tenants.tasks import TenantTask

from . import notifications
from .models import Invitation
from .services import mark_invitation_delivery

TRANSIENT_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError, OSError)
logger = logging.getLogger(__name__)


def _send_tracked(*, task, message: notifications.Message, invitation_id: int) -> None:
    """Send an invitation e-mail, retrying transient SMTP errors, and record its delivery."""
    try:
        message.send()
    except TRANSIENT_MAIL_ERRORS as exc:
        if task.request.retries >= task.max_retries:
            mark_invitation_delivery(invitation_id=invitation_id, delivered=False)
            raise
        raise task.retry(exc=exc, countdown=30 * 2**task.request.retries) from exc
    mark_invitation_delivery(invitation_id=invitation_id, delivered=True)


@app.task(base=TenantTask, bind=True, max_retries=5)
def send_invitation_email(self, *, invitation_id: int, token: str) -> None:
    """E-mail a family activation link or a staff invitation, in the commune's schema."""
    commune = connection.tenant
    invitation = Invitation.objects.select_related("membership__family").get(pk=invitation_id)
    if invitation.commune_id != commune.pk:
        raise RuntimeError("Invitation sent from another commune's schema.")
    if invitation.used_at:
        return
    name = "commune:activation" if invitation.kind == Invitation.Kind.FAMILY else "console:accept_invitation"
    link = settings.FOYER_BASE_URL + reverse(
        name, kwargs={"token": token}, urlconf=commune_urlconf(commune.slug)
    )
    message = notifications.compose(
        f"invitation_{invitation.kind}",
        {"commune": commune, "invitation": invitation, "link": link},
        to=[invitation.email],
        reply_to=[commune.contact_email] if commune.contact_email else None,
    )
    _send_tracked(task=self, message=message, invitation_id=invitation_id)


@app.task
def send_email(*, subject: str, body: str, to: list[str], html: str | None = None) -> None:
    """An e-mail rendered before its transaction committed (notifications.send_after_commit)."""
    notifications.deliver(subject=subject, body=body, to=to, html=html)


@app.task
def clear_expired_sessions() -> None:
    call_command("clearsessions")


@app.task(bind=True, max_retries=5)
def send_guardian_invitation_email(self, *, invitation_id: int, token: str) -> None:
    """E-mail the second guardian's invitation (platform-wide: the family is in every commune)."""
    invitation = (
        Invitation.objects.select_related("family", "created_by")
        .filter(pk=invitation_id, kind=Invitation.Kind.GUARDIAN)
        .first()
    )
    if invitation is None or invitation.used_at:
        return
    message = notifications.compose(
        "guardian_invitation",
        {
            "invitation": invitation,
            "family": invitation.family,
            "inviter": invitation.created_by,
            "communes": [m.commune for m in invitation.family.memberships.select_related("commune")],
            "link": settings.FOYER_BASE_URL + reverse("portal:guardian_invitation", kwargs={"token": token}),
        },
        to=[invitation.email],
    )
    _send_tracked(task=self, message=message, invitation_id=invitation_id)
