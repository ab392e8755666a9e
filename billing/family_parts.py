"""What billing contributes to the family's unified views (assembled by family.router): the
SQL of one commune's part — ``{s}`` is the commune's quoted schema, the first column its name —
and the invoices it reads, sorted into the family's lists."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tenants.models import Commune

from .models import Invoice, Payment

# Parameters after the schema name: family ids. Ordered by the router: due date, id.
INVOICES_PART = """
SELECT %s::text, i.id, i.reference, i.period_start, i.total, i.paid_amount, i.status, i.due_date,
       i.hidden_by_family, i.issued_at, i.payer_name, r.online_payment, r.id, r.name, i.source,
       d.status, d.collect_on, d.outcome
FROM {s}.billing_invoice i JOIN {s}.billing_regie r ON r.id = i.regie_id
LEFT JOIN {s}.billing_directdebit d ON d.invoice_id = i.id
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
    due_date: dt.date | None
    hidden: bool
    issued_at: dt.datetime
    payer_name: str
    online_payment: bool
    regie_id: int
    regie_name: str
    source: str
    debit_status: str | None = None  # billing.DirectDebit.Status, when the invoice has a debit
    debit_on: dt.date | None = None
    debit_outcome: str | None = None

    @property
    def debit_pending(self) -> bool:
        """To be debited (or being debited): not to pay by hand."""
        return self.unpaid and self.debit_status in ("scheduled", "submitted")

    @property
    def amount_due(self) -> Decimal:
        return max(self.total - self.paid_amount, Decimal("0.00"))

    @property
    def key(self) -> str:
        return f"{self.commune.slug}:{self.id}"

    @property
    def regie_key(self) -> str:
        return f"{self.commune.slug}:{self.regie_id}"

    @property
    def heading(self) -> str:
        """ "Commune de JolieVille – Périscolaire", as the guide groups them."""
        return f"{self.commune.name} – {self.regie_name}"

    @property
    def unpaid(self) -> bool:
        return self.status == Invoice.Status.ISSUED and self.amount_due > 0

    def due_label(self, today: dt.date) -> str:
        if self.due_date is None:  # an imported invoice may have none
            return _("sans échéance")
        days = (self.due_date - today).days
        if days < 0:
            return _("échue")
        if days == 0:
            return _("échéance aujourd'hui")
        return ngettext("%(n)s jour avant échéance", "%(n)s jours avant échéance", days) % {"n": days}


@dataclass
class InvoiceGroup:
    heading: str
    invoices: list[FamilyInvoice]


def grouped(invoices: list) -> list[InvoiceGroup]:
    """Invoices (or receipts and credit notes) under "Commune – Régie" headings, in the order
    they come."""
    groups: dict[str, InvoiceGroup] = {}
    for invoice in invoices:
        groups.setdefault(invoice.regie_key, InvoiceGroup(invoice.heading, [])).invoices.append(invoice)
    return list(groups.values())


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
    def hidden_unpaid(self) -> list[FamilyInvoice]:
        return [i for i in self.hidden if i.unpaid]

    @property
    def hidden_unpaid_total(self) -> Decimal:
        return sum((i.amount_due for i in self.hidden_unpaid), Decimal("0.00"))

    @property
    def payable(self) -> list[FamilyInvoice]:
        """The invoices the family pays itself: not those its bank will be debited for."""
        return [i for i in self.to_pay if not i.debit_pending]

    @property
    def to_debit_total(self) -> Decimal:
        return sum((i.amount_due for i in self.to_pay if i.debit_pending), Decimal("0.00"))

    @property
    def to_pay_total(self) -> Decimal:
        """What the family owes and pays itself: hiding an unpaid invoice does not make it
        paid; an invoice to be debited is paid by its bank."""
        return sum((i.amount_due for i in self.payable), Decimal("0.00")) + self.hidden_unpaid_total

    @property
    def to_pay_groups(self) -> list[InvoiceGroup]:
        return grouped(self.to_pay)

    @property
    def paid_groups(self) -> list[InvoiceGroup]:
        return grouped(self.paid)

    @property
    def hidden_groups(self) -> list[InvoiceGroup]:
        return grouped(self.hidden)


def invoice_lists(invoices: list[FamilyInvoice], *, commune_slug: str = "") -> InvoiceLists:
    """ "Factures à payer", "Factures payées" and "Factures masquées", of one commune when a
    slug is given; sorted by commune and régie, then by due date."""
    if commune_slug:
        invoices = [i for i in invoices if i.commune.slug == commune_slug]
    invoices = sorted(invoices, key=lambda i: (i.commune.name, i.regie_name, i.regie_id))
    return InvoiceLists(
        to_pay=[i for i in invoices if not i.hidden and i.status == Invoice.Status.ISSUED],
        paid=sorted(
            (i for i in invoices if not i.hidden and i.status == Invoice.Status.PAID),
            key=lambda i: (i.commune.name, i.regie_name, i.regie_id, -i.issued_at.timestamp()),
        ),
        hidden=[i for i in invoices if i.hidden],
        today=timezone.localdate(),
    )


# Parameters after the schema name: family ids (receipts), family ids (credit notes). Ordered
# by the router: newest first.
RECEIPTS_PART = """
SELECT %s::text, d.* FROM (
  SELECT 'receipt' AS kind, rc.id, rc.reference, rc.received_at AS at, rc.amount, r.id AS regie_id,
         r.name AS regie_name, rc.method AS detail, rc.items::text AS covers, '' AS outcome
  FROM {s}.billing_receipt rc JOIN {s}.billing_regie r ON r.id = rc.regie_id
  WHERE rc.family_id = ANY(%s)
  UNION ALL
  SELECT 'credit_note', cn.id, cn.reference, cn.created_at, cn.amount, r.id, r.name, cn.reason,
         i.reference, CASE WHEN cn.refund_id IS NOT NULL THEN 'refunded'
                           WHEN cn.applied_at IS NOT NULL THEN 'applied' ELSE 'pending' END
  FROM {s}.billing_creditnote cn JOIN {s}.billing_invoice i ON i.id = cn.invoice_id
  JOIN {s}.billing_regie r ON r.id = i.regie_id
  WHERE cn.family_id = ANY(%s)
) d
"""


@dataclass
class FamilyDocument:
    """A receipt or a credit note of the family, in one commune."""

    commune: Commune
    kind: str
    id: int
    reference: str
    at: dt.datetime
    amount: Decimal
    regie_id: int
    regie_name: str
    detail: str  # receipt: the payment method; credit note: its reason
    covers: str  # receipt: its items (JSON); credit note: the corrected invoice's reference
    outcome: str  # credit note: pending, applied or refunded

    @property
    def heading(self) -> str:
        return f"{self.commune.name} – {self.regie_name}"

    @property
    def regie_key(self) -> str:
        return f"{self.commune.slug}:{self.regie_id}"

    @property
    def is_receipt(self) -> bool:
        return self.kind == "receipt"

    @property
    def method_label(self) -> str:
        return str(Payment.Method(self.detail).label) if self.is_receipt else ""

    @property
    def covered(self) -> list[str]:
        """What a receipt paid: its items' labels."""
        return [item["label"] for item in json.loads(self.covers)] if self.is_receipt else []

    @property
    def outcome_label(self) -> str:
        return {
            "refunded": _("remboursé"),
            "applied": _("déduit d'une facture suivante"),
            "pending": _("sera déduit de la prochaine facture"),
        }.get(self.outcome, "")


# The years in which the family paid (or was refunded) something, in the commune's time zone.
# Parameters after the schema name: family ids, three times. Read by family.router.
ATTESTATION_YEARS_PART = """
SELECT z.schema_name::text, f.family_id, f.y
FROM (SELECT c.schema_name, c.timezone FROM public.tenants_commune c WHERE c.schema_name = %s) z
CROSS JOIN LATERAL (
  SELECT i.family_id, extract(year FROM p.received_at AT TIME ZONE z.timezone)::int AS y
  FROM {s}.billing_payment p JOIN {s}.billing_invoice i ON i.id = p.invoice_id
  WHERE i.family_id = ANY(%s)
  UNION
  SELECT a.family_id, extract(year FROM a.settled_at AT TIME ZONE z.timezone)::int
  FROM {s}.billing_paymentattempt a
  WHERE a.family_id = ANY(%s) AND a.status = 'paid' AND a.settled_at IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM {s}.billing_debitmandate m WHERE m.first_attempt_id = a.id)
  UNION
  SELECT a.family_id, extract(year FROM r.created_at AT TIME ZONE z.timezone)::int
  FROM {s}.billing_refund r JOIN {s}.billing_paymentattempt a ON a.id = r.attempt_id
  WHERE a.family_id = ANY(%s) AND a.status = 'paid' AND r.provider_id <> ''
    AND NOT EXISTS (SELECT 1 FROM {s}.billing_debitmandate m WHERE m.first_attempt_id = a.id)
) f
"""


# Parameters after the schema name: family ids. The régies that offer direct debit, with the
# family's mandate there (signed or being signed), if any.
DIRECT_DEBIT_PART = """
SELECT %s::text, r.id, r.name, m.id, m.status, m.iban_last4, m.holder_name, m.signed_on
FROM {s}.billing_regie r
LEFT JOIN {s}.billing_debitmandate m
  ON m.regie_id = r.id AND m.family_id = ANY(%s) AND m.status IN ('pending', 'valid')
WHERE r.direct_debit_enabled AND r.online_payment AND r.payment_provider = 'mollie'
  AND r.mollie_key_encrypted <> ''
"""


@dataclass
class AttestationYears:
    """The attestations a family may download in one commune: one per year and kind."""

    commune: Commune
    family_id: int
    family_name: str
    years: list[int]


def attestation_years(
    rows: list[tuple[Commune, tuple]], family_names: dict[int, str]
) -> list[AttestationYears]:
    """Rows of ATTESTATION_YEARS_PART (commune, (family id, year)) → one entry per commune and
    family, newest year first, communes by name."""
    found: dict[tuple[str, int], AttestationYears] = {}
    for commune, (family_id, year) in rows:
        entry = found.setdefault(
            (commune.schema_name, family_id),
            AttestationYears(commune, family_id, family_names.get(family_id, ""), []),
        )
        entry.years.append(year)
    for entry in found.values():
        entry.years.sort(reverse=True)
    return sorted(found.values(), key=lambda e: (e.commune.name, e.family_name, e.family_id))


@dataclass
class FamilyDirectDebit:
    """A régie that offers "prélèvement automatique", and the family's mandate there."""

    commune: Commune
    regie_id: int
    regie_name: str
    mandate_id: int | None
    mandate_status: str | None
    iban_last4: str | None
    holder_name: str | None
    signed_on: dt.date | None

    @property
    def heading(self) -> str:
        return f"{self.commune.name} – {self.regie_name}"

    @property
    def active(self) -> bool:
        return self.mandate_status == "valid"
