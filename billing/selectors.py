"""Reads on billing for families: one invoice's detail, in the current commune. Every invoice
of every commune is read by the family router (family.router, with billing.family_parts)."""

from __future__ import annotations

from django.db.models import Count, Min, Prefetch
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from reservations.for_billing import Booking

from .models import CreditNote, Invoice, Payment, PaymentAttempt, Receipt


def get_family_invoice(*, family_ids: list[int], invoice_id: int) -> Invoice:
    """One invoice of the family in the current commune, with its lines and payments."""
    invoice = (
        Invoice.objects.filter(pk=invoice_id, family_id__in=family_ids)
        .exclude(status=Invoice.Status.DRAFT)
        .select_related("regie", "direct_debit")
        .prefetch_related(
            "lines",
            "credit_notes",
            Prefetch("payments", queryset=Payment.objects.select_related("receipt")),
        )
        .first()
    )
    if invoice is None:
        raise NotFound(_("Cette facture n'existe pas."))
    return invoice


def held_cart_of_booking(*, family_ids: list[int], booking_id: int) -> int:
    """The cart awaiting payment that holds this booking of the family."""
    booking = Booking.objects.filter(
        pk=booking_id, family_id__in=family_ids, status=Booking.Status.HELD, cart__isnull=False
    ).first()
    if booking is None:
        raise NotFound(_("Cette réservation n'attend plus de paiement."))
    return booking.cart_id


def held_cart_summary(attempt: PaymentAttempt) -> dict | None:
    """For a cart's payment: the places still held and until when (None once none is)."""
    if not attempt.cart_id:
        return None
    held = Booking.objects.filter(cart_id=attempt.cart_id, status=Booking.Status.HELD).aggregate(
        places=Count("pk"), expires_at=Min("hold_expires_at")
    )
    return held if held["places"] else None


def get_family_receipt(*, family_ids: list[int], receipt_id: int) -> Receipt:
    receipt = Receipt.objects.select_related("regie").filter(pk=receipt_id, family_id__in=family_ids).first()
    if receipt is None:
        raise NotFound(_("Ce reçu n'existe pas."))
    return receipt


def get_family_credit_note(*, family_ids: list[int], credit_note_id: int) -> CreditNote:
    note = (
        CreditNote.objects.select_related("invoice__regie")
        .filter(pk=credit_note_id, family_id__in=family_ids)
        .first()
    )
    if note is None:
        raise NotFound(_("Cet avoir n'existe pas."))
    return note


def get_direct_debit_regie(*, regie_id: int):
    """A régie of this commune that offers direct debit (else not found)."""
    from .direct_debit import offers_direct_debit
    from .models import Regie

    regie = Regie.objects.filter(pk=regie_id).first()
    if regie is None or not offers_direct_debit(regie):
        raise NotFound(_("Cette régie ne propose pas le prélèvement automatique."))
    return regie


def get_family_mandate(*, family_ids: list[int], mandate_id: int):
    """The family's mandate, signed or being signed (else not found, also when not theirs)."""
    from .models import DebitMandate

    mandate = (
        DebitMandate.objects.select_related("regie")
        .filter(pk=mandate_id, family_id__in=family_ids, status__in=DebitMandate.LIVE)
        .first()
    )
    if mandate is None:
        raise NotFound(_("Ce mandat de prélèvement n'est plus actif."))
    return mandate
