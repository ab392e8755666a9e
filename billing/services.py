"""Writes on billing: the month-end invoicing run of a régie (set-based), issuing with gapless
numbers per régie, credit notes and receipts in the régie's series, counter payments, hiding an
invoice. Each command is one transaction."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.formatting import format_money
from reservations.for_billing import BookingCredit
from shared_identity.models import Family, Guardian, Membership
from tenants.tasks import enqueue_on_commit

from . import audit_entries
from .models import (
    DEFAULT_REFERENCE_FORMAT,
    CreditNote,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoicingRun,
    Payment,
    Receipt,
    Regie,
    default_regie_id,
    render_reference,
)

CENT = Decimal("0.01")

# Billable bookings of a month, priced with the grid: the quotient familial at the service
# date picks the bracket; late and unbooked prices apply; justified absences are not billed.
# One statement for the whole régie (its services; services without a régie belong to the
# commune's first one), grouped into invoice lines that carry their dates.
_PRICED_LINES = """
WITH billable AS (
    SELECT bk.family_id, bk.child_id, bk.prestation_id, bk.late, bk.unbooked, bk.date,
           p.service_id, p.label, p.base_price, p.late_price, p.unbooked_presence_price,
           (SELECT q.value FROM reservations_quotientfamilial q
             WHERE q.family_id = bk.family_id AND q.valid_from <= bk.date
             ORDER BY q.valid_from DESC LIMIT 1) AS quotient,
           EXISTS (SELECT 1 FROM reservations_pricebracket pb WHERE pb.prestation_id = p.id) AS has_brackets
    FROM reservations_booking bk
    JOIN reservations_prestation p ON p.id = bk.prestation_id
    JOIN reservations_service s ON s.id = p.service_id
    WHERE p.billing_mode = 'month_end' AND bk.date BETWEEN %(start)s AND %(end)s
      AND COALESCE(s.regie_id, %(default_regie)s) = %(regie)s
      AND bk.status IN ('confirmed', 'attended', 'absent')
)
SELECT b.family_id, b.child_id, c.first_name || ' ' || c.last_name, b.service_id, b.label,
       CASE WHEN b.unbooked THEN 'unbooked'
            WHEN b.late AND b.late_price IS NOT NULL THEN 'late' ELSE 'booking' END AS kind,
       CASE WHEN b.unbooked THEN COALESCE(b.unbooked_presence_price, bracket.price, b.base_price)
            WHEN b.late AND b.late_price IS NOT NULL THEN b.late_price
            ELSE COALESCE(bracket.price, b.base_price) END AS unit_price,
       count(*) AS quantity,
       bool_or(b.has_brackets AND b.quotient IS NULL) AS quotient_missing,
       array_agg(DISTINCT b.date ORDER BY b.date) AS dates
FROM billable b
JOIN shared_identity_child c ON c.id = b.child_id
LEFT JOIN LATERAL (
    SELECT pb.price FROM reservations_pricebracket pb
    WHERE pb.prestation_id = b.prestation_id AND b.quotient IS NOT NULL
      AND pb.qf_min <= b.quotient AND (pb.qf_max IS NULL OR b.quotient <= pb.qf_max)
    ORDER BY pb.qf_min LIMIT 1
) bracket ON true
GROUP BY 1, 2, 3, 4, 5, 6, 7
ORDER BY 1, 3, 5, 6, 4
"""


def get_regie(regie_id: int | None = None) -> Regie:
    """A régie of the current commune; by default its first one (created if it has none)."""
    regie = Regie.objects.filter(pk=regie_id or default_regie_id()).first()
    if regie is None:
        raise NotFound(_("Cette régie n'existe pas."))
    return regie


def next_number(*, regie: Regie, kind: str, year: int, count: int = 1) -> int:
    """Reserve ``count`` numbers of a régie's series (locked until the caller's transaction
    ends, so numbers have no gap); returns the first."""
    InvoiceCounter.objects.get_or_create(regie=regie, kind=kind, year=year)
    counter = InvoiceCounter.objects.select_for_update().get(regie=regie, kind=kind, year=year)
    first = counter.last_number + 1
    counter.last_number += count
    counter.save(update_fields=["last_number"])
    return first


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return start, end


def prepare_invoicing_run(*, month: dt.date, regie_id: int | None = None, actor=None) -> InvoicingRun:
    """Draft one invoice per family for the month's month-end prestations of a régie, with a
    journal of what needs an agent's eye. Preparing again replaces the drafts."""
    start, end = month_bounds(month)
    regie = get_regie(regie_id)
    if regie.imported:
        raise FoyerError(
            "regie_imported",
            _("Cette régie importe ses factures du logiciel de la commune : pas de facturation dans Foyer."),
            status=409,
        )
    with transaction.atomic(durable=True):
        run = InvoicingRun.objects.select_for_update().filter(regie=regie, period_start=start).first()
        if run is not None and run.status == InvoicingRun.Status.ISSUED:
            raise FoyerError(
                "run_issued",
                _("La facturation de ce mois est déjà émise : corrigez par des avoirs."),
                status=409,
            )
        if run is None:
            run = InvoicingRun.objects.create(
                regie=regie, period_start=start, period_end=end, created_by=actor
            )
        else:
            _delete_drafts(run)
        with connection.cursor() as cursor:
            cursor.execute(
                _PRICED_LINES,
                {"start": start, "end": end, "regie": regie.pk, "default_regie": default_regie_id()},
            )
            rows = cursor.fetchall()
        lines_by_family: dict[int, list[InvoiceLine]] = defaultdict(list)
        missing_quotient: dict[int, int] = defaultdict(int)
        for (
            family_id,
            _child_id,
            child_name,
            service_id,
            label,
            kind,
            unit_price,
            quantity,
            quotient_missing,
            dates,
        ) in rows:
            lines_by_family[family_id].append(
                InvoiceLine(
                    kind=kind,
                    label=label,
                    child_name=child_name,
                    service_id=service_id,
                    quantity=quantity,
                    unit_price=unit_price,
                    amount=(unit_price * quantity).quantize(CENT),
                    dates=dates,
                )
            )
            if quotient_missing:
                missing_quotient[family_id] += quantity
        _add_credits(lines_by_family, regie=regie)
        invoices = [
            Invoice(
                regie=regie,
                run=run,
                family_id=family_id,
                period_start=start,
                period_end=end,
                total=sum((line.amount for line in lines), Decimal("0.00")),
            )
            for family_id, lines in lines_by_family.items()
        ]
        Invoice.objects.bulk_create(invoices, batch_size=2000)
        for invoice in invoices:
            for line in lines_by_family[invoice.family_id]:
                line.invoice = invoice
        InvoiceLine.objects.bulk_create(
            (line for lines in lines_by_family.values() for line in lines), batch_size=5000
        )
        run.journal = _journal(lines_by_family, missing_quotient)
        run.save(update_fields=["journal"])
        audit_entries.record_invoicing_prepared(run=run, invoices=invoices)
    return run


def _add_credits(lines_by_family: dict[int, list[InvoiceLine]], *, regie: Regie) -> None:
    """Credits of the régie not yet applied (cancelled paid bookings, credit notes on earlier
    invoices) become negative lines, never more than what is billed; the rest waits."""
    booking_regie = Q(booking__prestation__service__regie=regie)
    if regie.pk == default_regie_id():
        booking_regie |= Q(booking__prestation__service__regie__isnull=True)
    booking_credits = (
        BookingCredit.objects.filter(booking_regie, applied_at__isnull=True, family_id__in=lines_by_family)
        .select_related("booking__prestation", "booking__child")
        .order_by("pk")
    )
    for credit in booking_credits:
        _credit_line(
            lines_by_family[credit.family_id],
            amount=credit.amount,
            label=_("Avoir : %(prestation)s du %(date)s")
            % {
                "prestation": credit.booking.prestation.label,
                "date": credit.booking.date.strftime("%d/%m/%Y"),
            },
            child_name=f"{credit.booking.child.first_name} {credit.booking.child.last_name}",
            credit=credit,
            service_id=credit.booking.prestation.service_id,
        )
    notes = CreditNote.objects.filter(
        applied_at__isnull=True, refund__isnull=True, family_id__in=lines_by_family, invoice__regie=regie
    ).select_related("invoice")
    for note in notes.order_by("pk"):
        _credit_line(
            lines_by_family[note.family_id],
            amount=note.amount,
            label=_("Avoir %(note)s sur la facture %(ref)s : %(reason)s")
            % {"note": note.reference, "ref": note.invoice.reference, "reason": note.reason},
            child_name="",
            credit_note=note,
        )


def _credit_line(lines: list[InvoiceLine], *, amount: Decimal, label: str, child_name: str, **source) -> None:
    if sum(line.amount for line in lines) < amount:
        return
    lines.append(
        InvoiceLine(
            kind=InvoiceLine.Kind.CREDIT,
            label=label,
            child_name=child_name,
            quantity=1,
            unit_price=-amount,
            amount=-amount,
            **source,
        )
    )


def _journal(lines_by_family, missing_quotient) -> list[dict]:
    families = Family.objects.in_bulk(list(lines_by_family))
    journal = []
    for family_id, count in sorted(missing_quotient.items()):
        journal.append(
            {
                "family_id": family_id,
                "message": _(
                    "%(family)s : quotient familial inconnu, prix de base appliqué à %(count)s réservation(s)."
                )
                % {"family": families[family_id].name, "count": count},
            }
        )
    for family_id, family in sorted(families.items()):
        if not (family.address_line and family.postcode and family.city):
            journal.append(
                {
                    "family_id": family_id,
                    "message": _("%(family)s : adresse du payeur incomplète.") % {"family": family.name},
                }
            )
    return journal


def _delete_drafts(run: InvoicingRun) -> None:
    # Set-based: Django deletes row by row here (django-tenants listens to every delete).
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM billing_invoiceline WHERE invoice_id IN (SELECT id FROM billing_invoice WHERE run_id = %s)",
            [run.pk],
        )
        cursor.execute("DELETE FROM billing_invoice WHERE run_id = %s", [run.pk])


def _number_invoices(invoices: list[Invoice], *, year: int, issued_at, due_date) -> None:
    """Write the numbers, references and payers of a run in one statement (bulk_update builds
    a CASE per row and field: 40 s for 10,000 invoices against under one here)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE billing_invoice AS i SET status = v.status, year = %s, number = v.number,
                   reference = v.reference, issued_at = %s, due_date = %s, payer_name = v.payer_name,
                   payer_address = v.payer_address, dossier_number = v.dossier_number
            FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[])
                 AS v(id, status, number, reference, payer_name, payer_address, dossier_number)
            WHERE i.id = v.id
            """,
            [
                year,
                issued_at,
                due_date,
                [i.pk for i in invoices],
                [i.status for i in invoices],
                [i.number for i in invoices],
                [i.reference for i in invoices],
                [i.payer_name for i in invoices],
                [i.payer_address for i in invoices],
                [i.dossier_number for i in invoices],
            ],
        )


def format_reference(
    *, year: int, regie_code: str, number: int, pattern: str = DEFAULT_REFERENCE_FORMAT
) -> str:
    """The régie's reference format; by default shaped like the guide's "2016-CA-00-154"."""
    return render_reference(pattern, year=year, regie_code=regie_code, number=number)


def issue_invoicing_run(*, run_id: int, actor=None, now: dt.datetime | None = None) -> InvoicingRun:
    """Number the drafts without gaps (a locked counter row per year), copy the payer's
    identity onto each invoice, mark the credits used, and e-mail the families."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        run = InvoicingRun.objects.select_for_update().select_related("regie").filter(pk=run_id).first()
        if run is None:
            raise NotFound()
        if run.status != InvoicingRun.Status.DRAFT:
            raise FoyerError("run_issued", _("Cette facturation est déjà émise."), status=409)
        regie = run.regie
        invoices = list(run.invoices.order_by("family_id"))
        year = timezone.localdate(now).year
        number = next_number(regie=regie, kind=InvoiceCounter.Kind.INVOICE, year=year, count=len(invoices))
        who = payers([invoice.family_id for invoice in invoices])
        dossiers = dict(
            Membership.objects.filter(commune=connection.tenant, family_id__in=who).values_list(
                "family_id", "dossier_number"
            )
        )
        due = timezone.localdate(now) + dt.timedelta(days=regie.due_days)
        for invoice in invoices:
            # An invoice brought to zero by an avoir is still a legal document, settled already.
            invoice.status = Invoice.Status.ISSUED if invoice.total > 0 else Invoice.Status.PAID
            invoice.year = year
            invoice.number = number
            invoice.reference = format_reference(
                year=year, regie_code=regie.regie_code, number=number, pattern=regie.reference_format
            )
            number += 1
            invoice.issued_at = now
            invoice.due_date = due
            invoice.payer_name, invoice.payer_address = who[invoice.family_id]
            invoice.dossier_number = dossiers.get(invoice.family_id, "")
        _number_invoices(invoices, year=year, issued_at=now, due_date=due)
        used = InvoiceLine.objects.filter(invoice__run=run)
        BookingCredit.objects.filter(pk__in=used.filter(credit__isnull=False).values("credit_id")).update(
            applied_at=now
        )
        CreditNote.objects.filter(
            pk__in=used.filter(credit_note__isnull=False).values("credit_note_id")
        ).update(applied_at=now)
        run.status = InvoicingRun.Status.ISSUED
        run.issued_at = now
        run.save(update_fields=["status", "issued_at"])
        audit_entries.record_invoicing_issued(run=run, invoices=invoices)
        from .direct_debit import schedule_debits

        schedule_debits(regie=regie, invoices=invoices)
        from .tasks import send_invoice_emails

        enqueue_on_commit(send_invoice_emails, schema_name=connection.schema_name, run_id=run.pk)
    return run


def payers(family_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Each family's payer as an invoice names it: its guardians (or the family), its address."""
    families = Family.objects.in_bulk(family_ids)
    guardians: dict[int, list[str]] = defaultdict(list)
    for family_id, first, last in (
        Guardian.objects.filter(family_id__in=family_ids)
        .order_by("pk")
        .values_list("family_id", "first_name", "last_name")
    ):
        guardians[family_id].append(f"{first} {last.upper()}")
    found = {}
    for family_id, family in families.items():
        name = " et ".join(guardians[family_id]) or family.name
        address = "\n".join(
            part for part in (family.address_line, f"{family.postcode} {family.city}".strip()) if part
        )
        found[family_id] = (name, address)
    return found


def record_payment(
    *, invoice_id: int, method: str, amount: Decimal, reference: str = "", actor=None, received_at=None
) -> Payment:
    """Money received at the counter for an invoice (cash, check, CESU), with its receipt."""
    with transaction.atomic():
        payment = apply_payment(
            invoice_id=invoice_id,
            method=method,
            amount=amount,
            reference=reference,
            actor=actor,
            received_at=received_at,
        )
        receipt = issue_receipt(
            regie=payment.invoice.regie,
            family_id=payment.invoice.family_id,
            payer_name=payment.invoice.payer_name,
            method=method,
            amount=payment.amount,
            received_at=payment.received_at,
            provider_reference=payment.reference,
            items=[invoice_item(payment.invoice, payment.amount)],
        )
        Payment.objects.filter(pk=payment.pk).update(receipt=receipt)
        payment.receipt = receipt
    return payment


def invoice_item(invoice: Invoice, amount: Decimal) -> dict:
    """What a receipt says of an invoice it settles."""
    return {
        "label": _("Facture %(ref)s") % {"ref": invoice.reference},
        "amount": str(amount),
        "invoice_id": invoice.pk,
        "invoice_reference": invoice.reference,
    }


def issue_receipt(
    *,
    regie: Regie,
    family_id: int,
    payer_name: str,
    method: str,
    amount: Decimal,
    received_at,
    items: list[dict],
    provider_reference: str = "",
    attempt=None,
) -> Receipt:
    """Number a receipt in the régie's series and have it e-mailed once committed. Called
    inside the transaction that records the money."""
    year = timezone.localdate(received_at).year
    number = next_number(regie=regie, kind=InvoiceCounter.Kind.RECEIPT, year=year)
    receipt = Receipt.objects.create(
        regie=regie,
        family_id=family_id,
        year=year,
        number=number,
        reference=f"RC{year}-{regie.regie_code}-{number:05d}",
        payer_name=payer_name
        or Family.objects.filter(pk=family_id).values_list("name", flat=True).first()
        or "",
        method=method,
        amount=amount,
        received_at=received_at,
        provider_reference=provider_reference,
        attempt=attempt,
        items=items,
    )
    from .tasks import send_receipt_email

    enqueue_on_commit(send_receipt_email, schema_name=connection.schema_name, receipt_id=receipt.pk)
    return receipt


def apply_payment(
    *, invoice_id: int, method: str, amount: Decimal, reference: str = "", actor=None, received_at=None
) -> Payment:
    """Money received for an invoice (counter or online), without its receipt: the caller
    issues one receipt for everything one payment settled."""
    if method not in Payment.Method.values:
        raise FoyerError("invalid", _("Mode de paiement inconnu."))
    amount = Decimal(amount).quantize(CENT)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound()
        if invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PAID):
            raise FoyerError("not_issued", _("Cette facture n'est pas émise."), status=409)
        if amount <= 0 or amount > invoice.amount_due:
            raise FoyerError(
                "invalid_amount",
                _("Le montant doit être positif et au plus égal au reste à payer."),
                extra={
                    "fields": {"amount": [_("Au plus %(due)s.") % {"due": format_money(invoice.amount_due)}]}
                },
            )
        payment = Payment.objects.create(
            invoice=invoice,
            method=method,
            amount=amount,
            reference=reference.strip(),
            recorded_by=actor,
            received_at=received_at or timezone.now(),
        )
        Invoice.objects.filter(pk=invoice.pk).update(paid_amount=F("paid_amount") + amount)
        invoice.refresh_from_db()
        if invoice.amount_due == 0:
            invoice.status = Invoice.Status.PAID
            invoice.save(update_fields=["status"])
    return payment


def set_invoice_hidden(*, family_ids: list[int], invoice_id: int, hidden: bool) -> Invoice:
    """ "Masquer" an invoice in the family's list (or show it again). An unpaid invoice stays
    owed: the family's lists keep counting it in the amount to pay."""
    invoice = Invoice.objects.filter(pk=invoice_id, family_id__in=family_ids).exclude(status="draft").first()
    if invoice is None:
        raise NotFound()
    Invoice.objects.filter(pk=invoice.pk).update(hidden_by_family=hidden)
    invoice.hidden_by_family = hidden
    return invoice


def issue_credit_note(*, invoice_id: int, amount: Decimal, reason: str, actor=None) -> CreditNote:
    """Correct an issued invoice without touching it: an avoir, deducted from the family's
    next invoice. At most the invoice's total, less the avoirs it already has."""
    amount = Decimal(amount).quantize(CENT)
    reason = reason.strip()
    with transaction.atomic(durable=True):
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).exclude(status="draft").first()
        if invoice is None:
            raise NotFound()
        already = sum((note.amount for note in invoice.credit_notes.all()), Decimal("0.00"))
        errors = {}
        if not reason:
            errors["reason"] = [_("Indiquez le motif : il figure sur la facture suivante.")]
        if amount <= 0 or amount > invoice.total - already:
            errors["amount"] = [_("Au plus %(max)s.") % {"max": format_money(invoice.total - already)}]
        if errors:
            raise FoyerError(
                "invalid", _("L'avoir n'a pas été créé : corrigez les erreurs."), extra={"fields": errors}
            )
        year = timezone.localdate().year
        regie = Regie.objects.get(pk=invoice.regie_id)
        number = next_number(regie=regie, kind=InvoiceCounter.Kind.CREDIT_NOTE, year=year)
        return CreditNote.objects.create(
            invoice=invoice,
            family_id=invoice.family_id,
            year=year,
            number=number,
            reference=f"AV{year}-{regie.regie_code}-{number:04d}",
            amount=amount,
            reason=reason,
            created_by=actor,
        )
