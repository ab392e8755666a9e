from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.template.loader import render_to_string

from foyer.celery import app
from shared_identity.models import Guardian
from tenants.tasks import TenantTask

from .models import Invoice


@app.task(base=TenantTask)
def send_invoice_emails(*, run_id: int) -> int:
    """One e-mail per issued invoice to the family's guardians with an account."""
    invoices = list(Invoice.objects.filter(run_id=run_id, status=Invoice.Status.ISSUED))
    emails: dict[int, list[str]] = defaultdict(list)
    for family_id, email in Guardian.objects.filter(
        family_id__in=[i.family_id for i in invoices], account__isnull=False
    ).values_list("family_id", "account__email"):
        emails[family_id].append(email)
    sent = 0
    for invoice in invoices:
        if not emails[invoice.family_id]:
            continue
        context = {"invoice": invoice, "commune": connection.tenant, "base_url": settings.FOYER_BASE_URL}
        send_mail(
            subject=render_to_string("emails/invoice_issued_subject.txt", context).strip(),
            message=render_to_string("emails/invoice_issued.txt", context),
            from_email=None,
            recipient_list=emails[invoice.family_id],
        )
        sent += 1
    return sent
