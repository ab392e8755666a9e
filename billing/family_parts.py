"""What billing contributes to the family's unified views (assembled by family.router): the
SQL of one commune's part — ``{s}`` is the commune's quoted schema, the first column its name —
and the invoices it reads, sorted into the family's lists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tenants.models import Commune

from .models import Invoice

# Parameters after the schema name: family ids. Ordered by the router: due date, id.
INVOICES_PART = """
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


def invoice_lists(invoices: list[FamilyInvoice]) -> InvoiceLists:
    """ "Factures à payer", "Factures payées" and "Factures masquées"."""
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
