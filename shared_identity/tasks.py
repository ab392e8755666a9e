from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse

from foyer.celery import app
from tenants.middleware import commune_urlconf
from tenants.tasks import TenantTask

from .models import Invitation
from .services import mark_invitation_delivery

TRANSIENT_MAIL_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError, OSError)


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
    context = {
        "commune": commune,
        "invitation": invitation,
        "link": link,
        "base_url": settings.FOYER_BASE_URL,
    }
    template = f"emails/invitation_{invitation.kind}"
    message = EmailMultiAlternatives(
        subject=render_to_string(f"{template}_subject.txt", context).strip(),
        body=render_to_string(f"{template}.txt", context),
        to=[invitation.email],
        reply_to=[commune.contact_email] if commune.contact_email else None,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    try:
        message.send()
    except TRANSIENT_MAIL_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            mark_invitation_delivery(invitation_id=invitation_id, delivered=False)
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
    mark_invitation_delivery(invitation_id=invitation_id, delivered=True)


@app.task
def send_email(*, subject: str, body: str, to: list[str], html: str | None = None) -> None:
    """A platform e-mail that needs no commune (password reset)."""
    message = EmailMultiAlternatives(subject=subject, body=body, to=to)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


@app.task
def clear_expired_sessions() -> None:
    call_command("clearsessions")
