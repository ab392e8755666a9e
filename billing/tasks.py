from __future__ import annotations

import datetime as dt

from django.utils import timezone

from foyer.celery import app
from shared_identity import notifications
from tenants.tasks import TenantTask, send_to_every_commune

from .gateway import ProviderUnavailable
from .models import Invoice, PaymentAttempt, Receipt

DEBIT_RECONCILE_EVERY = dt.timedelta(hours=6)


@app.task(base=TenantTask)
def send_invoice_emails(*, run_id: int) -> int:
    """One e-mail per issued invoice of a run to the family's guardians with an account."""
    return _email_invoices(Invoice.objects.filter(run_id=run_id, status=Invoice.Status.ISSUED))


@app.task(base=TenantTask)
def send_imported_invoice_emails(*, invoice_ids: list[int]) -> int:
    """The same for invoices imported from the commune's software."""
    return _email_invoices(Invoice.objects.filter(pk__in=invoice_ids, status=Invoice.Status.ISSUED))


def _email_invoices(invoices) -> int:
    # The e-mail says "sera prélevée le …" for an invoice to be debited.
    by_family = {invoice.family_id: invoice for invoice in invoices.select_related("direct_debit")}
    return notifications.notify_families(
        family_ids=by_family,
        kind="invoice",
        template="invoice_issued",
        context=lambda family_id: {"invoice": by_family[family_id]},
    )


@app.task(base=TenantTask, autoretry_for=(ProviderUnavailable,), retry_backoff=30, max_retries=8)
def sync_payment_attempt(*, attempt_id: int) -> str:
    """Re-fetch one payment from the provider (after its webhook, or when reconciling)."""
    from .payments import sync_attempt

    return sync_attempt(attempt_id=attempt_id, source="webhook").status


@app.task(base=TenantTask)
def reconcile_payments(*, older_than_minutes: int = 10) -> int:
    """Payments whose webhook never came: ask the provider where they stand."""
    from .payments import sync_attempt

    now = timezone.now()
    cutoff = now - dt.timedelta(minutes=older_than_minutes)
    attempts = (
        PaymentAttempt.objects.filter(
            provider_id__isnull=False,
            updated_at__lt=cutoff,
            status__in=(
                PaymentAttempt.Status.OPEN,
                PaymentAttempt.Status.PENDING,
                PaymentAttempt.Status.AUTHORIZED,
            ),
        )
        # A direct debit stays pending for days at the bank: asked about every few hours.
        .exclude(direct_debit__isnull=False, updated_at__gte=now - DEBIT_RECONCILE_EVERY)
        .values_list("pk", flat=True)
    )
    count = 0
    for attempt_id in attempts:
        try:
            sync_attempt(attempt_id=attempt_id, source="reconcile")
            count += 1
        except ProviderUnavailable:
            break
    return count


@app.task
def reconcile_payments_everywhere() -> None:
    send_to_every_commune(reconcile_payments)


@app.task(base=TenantTask)
def prepare_monthly_invoicing(*, today: str | None = None) -> list[int]:
    """On each régie's invoicing day, draft last month's invoices (never over a run that an
    agent is already reviewing or has issued; never for a régie that imports its invoices)."""
    from .models import Regie
    from .services import prepare_invoicing_run

    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    last_month = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    due = Regie.objects.filter(invoicing_day=day.day, source=Regie.Source.FOYER).exclude(
        runs__period_start=last_month
    )
    return [prepare_invoicing_run(month=last_month, regie_id=regie.pk).pk for regie in due]


@app.task
def prepare_monthly_invoicing_everywhere() -> None:
    send_to_every_commune(prepare_monthly_invoicing)


@app.task(base=TenantTask, autoretry_for=(ProviderUnavailable,), retry_backoff=300, max_retries=6)
def collect_direct_debits(*, today: str | None = None) -> int:
    """The debits due by today (the commune's date), sent once each (billing.direct_debit)."""
    from .direct_debit import collect_due_debits

    return collect_due_debits(today=dt.date.fromisoformat(today) if today else None)


@app.task
def collect_direct_debits_everywhere() -> None:
    send_to_every_commune(collect_direct_debits)


@app.task(base=TenantTask)
def send_debit_failed_email(*, debit_id: int) -> int:
    """A debit failed or was charged back: the family learns the invoice is to pay again."""
    from .models import DirectDebit

    debit = DirectDebit.objects.select_related("invoice__regie").filter(pk=debit_id).first()
    if debit is None or debit.status != DirectDebit.Status.FAILED:
        return 0
    return notifications.notify_families(
        family_ids=[debit.invoice.family_id],
        kind=None,
        template="direct_debit_failed",
        context={"debit": debit, "invoice": debit.invoice},
    )


@app.task(base=TenantTask)
def send_receipt_email(*, receipt_id: int) -> int:
    """The receipt of a payment, its PDF attached, to the family's guardians who want billing
    e-mails."""
    from django.db import connection

    from .pdf import render_receipt_pdf

    receipt = Receipt.objects.select_related("regie").filter(pk=receipt_id).first()
    if receipt is None or not notifications.recipients([receipt.family_id], kind="invoice").get(
        receipt.family_id
    ):
        return 0  # gone, or nobody wants it: no PDF to draw
    return notifications.notify_families(
        family_ids=[receipt.family_id],
        kind="invoice",
        template="receipt_issued",
        context={"receipt": receipt},
        attachments=[
            (
                f"recu-{receipt.reference}.pdf",
                render_receipt_pdf(receipt=receipt, commune=connection.tenant),
                "application/pdf",
            )
        ],
    )


@app.task(base=TenantTask)
def issue_attestations(*, run_id: int) -> int:
    """A year's attestations of payments, drawn and e-mailed to every family that paid (once)."""
    from .attestations import send_attestations

    run = send_attestations(run_id=run_id)
    return run.sent if run else 0
