"""Reads on billing for families: every invoice of every commune in one query (the family
router), and one invoice's detail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from foyer.errors import NotFound
from reservations.selectors import FamilyScope
from tenants.models import Commune
from tenants.schemas import union_over_schemas

from .models import Invoice

_PART = """
SELECT %s::text, i.id, i.reference, i.period_start, i.total, i.paid_amount, i.status, i.due_date,
       i.hidden_by_family, i.issued_at, i.payer_name,
       coalesce((SELECT r.online_payment FROM {s}.billing_regiesettings r WHERE r.id = 1), false)
FROM {s}.billing_invoice i
WHERE i.family_id = ANY(%s) AND i.status <> 'draft'
"""


@dataclass
class FamilyInvoice:
    commune: Commune
    id: int
    reference: str
    period_start: dt.date
    total: Decimal
    paid_amount: Decimal
    status: str
    due_date: dt.date
    hidden: bool
    issued_at: dt.datetime
    payer_name: str
    online_payment: bool

    @property
    def amount_due(self) -> Decimal:
        return max(self.total - self.paid_amount, Decimal("0.00"))

    @property
    def key(self) -> str:
        return f"{self.commune.slug}:{self.id}"

    def due_label(self, today: dt.date) -> str:
        days = (self.due_date - today).days
        if days < 0:
            return _("échue")
        if days == 0:
            return _("échéance aujourd'hui")
        return ngettext("%(n)s jour avant échéance", "%(n)s jours avant échéance", days) % {"n": days}


def list_family_invoices(*, scope: FamilyScope) -> list[FamilyInvoice]:
    """Every issued invoice of the family in every commune, in one query."""
    if not scope.communes:
        return []
    sql, params = union_over_schemas(_PART, [c.schema_name for c in scope.communes], scope.family_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY 8, 2", params)
        rows = cursor.fetchall()
    communes = {c.schema_name: c for c in scope.communes}
    return [FamilyInvoice(communes[row[0]], *row[1:]) for row in rows]


@dataclass
class InvoiceLists:
    to_pay: list[FamilyInvoice]
    paid: list[FamilyInvoice]
    hidden: list[FamilyInvoice]
    today: dt.date

    @property
    def all(self) -> tuple[list[FamilyInvoice], ...]:
        return self.to_pay, self.paid, self.hidden

    @property
    def to_pay_total(self) -> Decimal:
        return sum((i.amount_due for i in self.to_pay), Decimal("0.00"))


def family_invoice_lists(*, scope: FamilyScope) -> InvoiceLists:
    invoices = list_family_invoices(scope=scope)
    return InvoiceLists(
        to_pay=[i for i in invoices if not i.hidden and i.status == Invoice.Status.ISSUED],
        paid=sorted(
            (i for i in invoices if not i.hidden and i.status == Invoice.Status.PAID),
            key=lambda i: i.issued_at,
            reverse=True,
        ),
        hidden=[i for i in invoices if i.hidden],
        today=timezone.localdate(),
    )


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
