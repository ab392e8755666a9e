"""Reads on billing for families: one invoice's detail, in the current commune. Every invoice
of every commune is read by the family router (family.router, with billing.family_parts)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from foyer.errors import NotFound

from .models import Invoice


def get_family_invoice(*, family_ids: list[int], invoice_id: int) -> Invoice:
    """One invoice of the family in the current commune, with its lines and payments."""
    invoice = (
        Invoice.objects.filter(pk=invoice_id, family_id__in=family_ids)
        .exclude(status=Invoice.Status.DRAFT)
        .prefetch_related("lines", "payments")
        .first()
    )
    if invoice is None:
        raise NotFound(_("Cette facture n'existe pas."))
    return invoice
