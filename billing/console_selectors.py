"""Reads for the console's billing pages: invoicing runs, invoices, payments. Each read costs
a fixed number of queries whatever the number of rows; a fetch by id raises NotFound for an
absent row (another commune's rows live in another schema)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet, Sum

from foyer.errors import NotFound

from .models import (
    AttestationRun,
    CreditNote,
    Invoice,
    InvoicingRun,
    Payment,
    Receipt,
    Regie,
    RegieApiToken,
    hash_token,
)


def _get(rows: QuerySet, pk: int):
    row = rows.filter(pk=pk).first()
    if row is None:
        raise NotFound()
    return row


def list_regies() -> QuerySet[Regie]:
    """Every régie with its services (one extra query)."""
    return Regie.objects.prefetch_related("services").order_by("pk")


def get_regie(*, regie_id: int) -> Regie:
    return _get(Regie.objects.all(), regie_id)


def list_attestation_runs(limit: int = 20) -> list[AttestationRun]:
    """The last runs of yearly attestations, newest first."""
    return list(AttestationRun.objects.order_by("-created_at", "-pk")[:limit])


def list_invoicing_runs() -> QuerySet[InvoicingRun]:
    """Newest period first, each with ``invoice_count`` and ``invoice_total``."""
    return InvoicingRun.objects.select_related("regie").annotate(
        invoice_count=Count("invoices"), invoice_total=Sum("invoices__total")
    )


def get_invoicing_run(*, run_id: int) -> InvoicingRun:
    return _get(list_invoicing_runs(), run_id)


def list_run_invoices(*, run: InvoicingRun) -> QuerySet[Invoice]:
    """Issued: by number; drafts: by family name."""
    return run.invoices.select_related("family").order_by("number", "family__name", "pk")


def get_invoice(*, invoice_id: int) -> Invoice:
    """The invoice with its run, family, lines, payments (who recorded them) and avoirs."""
    return _get(
        Invoice.objects.select_related("run", "family", "regie", "direct_debit").prefetch_related(
            "lines",
            "credit_notes",
            Prefetch("payments", queryset=Payment.objects.select_related("recorded_by", "receipt")),
        ),
        invoice_id,
    )


def list_payments(*, method: str = "") -> QuerySet[Payment]:
    """Latest first, with the invoice, its family and the receipt; only one method when given."""
    payments = Payment.objects.select_related("invoice__family", "receipt").order_by("-received_at", "-pk")
    return payments.filter(method=method) if method else payments


def total_amount(payments: QuerySet[Payment]) -> Decimal:
    return payments.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


def get_receipt(*, receipt_id: int) -> Receipt:
    return _get(Receipt.objects.select_related("regie"), receipt_id)


def get_credit_note(*, credit_note_id: int) -> CreditNote:
    return _get(CreditNote.objects.select_related("invoice__regie"), credit_note_id)


def list_api_tokens(*, regie: Regie) -> QuerySet[RegieApiToken]:
    return regie.api_tokens.select_related("created_by").order_by("revoked_at", "-created_at")


def find_api_token(raw: str) -> RegieApiToken | None:
    """The live key whose hash this is, in the current commune (another commune's key is
    not in its schema); None otherwise."""
    if not raw.startswith("foyer_rt_") or len(raw) > 100:
        return None
    return (
        RegieApiToken.objects.select_related("regie")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )


def list_regie_receipts(
    *, regie: Regie, since: dt.date | None = None, until: dt.date | None = None
) -> QuerySet[Receipt]:
    """The money a régie received (one receipt per payment, online or at the counter), oldest
    first, with what each paid: for the commune's accounting."""
    receipts = Receipt.objects.filter(regie=regie).select_related("attempt").order_by("received_at", "pk")
    if since:
        receipts = receipts.filter(received_at__date__gte=since)
    if until:
        receipts = receipts.filter(received_at__date__lte=until)
    return receipts


@dataclass
class DirectDebitOverview:
    mandates: list
    upcoming: list
    failed: list


def direct_debit_overview(*, regie: Regie, limit: int = 200) -> DirectDebitOverview:
    """A régie's mandates (newest first), its debits to come and those that failed."""
    from .models import DebitMandate, DirectDebit

    debits = DirectDebit.objects.filter(mandate__regie=regie).select_related("invoice", "mandate")
    return DirectDebitOverview(
        mandates=list(
            DebitMandate.objects.filter(regie=regie)
            .exclude(status=DebitMandate.Status.INVALID)
            .select_related("family")
            .order_by("-created_at")[:limit]
        ),
        upcoming=list(
            debits.filter(status__in=[DirectDebit.Status.SCHEDULED, DirectDebit.Status.SUBMITTED]).order_by(
                "collect_on", "pk"
            )[:limit]
        ),
        failed=list(debits.filter(status=DirectDebit.Status.FAILED).order_by("-updated_at")[:limit]),
    )
