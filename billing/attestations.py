"""Yearly attestations of payments: what a family actually paid one commune in a year, per
child and service, under each régie that collected it. Two kinds: every payment
("paiements"), and the one for the childcare tax credit ("credit-impot": children under six,
services that qualify).

**What counts as paid** (the totals always equal the money recorded, to the cent):

* in: every payment recorded at the counter (cash, check, CESU…: ``Payment`` without an
  online attempt), dated when received; every online payment the provider confirmed
  (``PaymentAttempt`` paid), for its whole amount, dated when it settled;
* out: every refund the provider accepted (``Refund`` with its provider id), dated when it
  was made, and every chargeback (``amount_charged_back``), dated when the attempt learnt it;
* a year holds what is dated in it, in the commune's time zone: a refund in January counts
  in January's year, even for a December payment, so an attestation once sent never changes.

Credit notes (avoirs) reduce what was owed, never what was paid: they become negative lines
of a later invoice (less to pay) or a refund (counted above), and never appear themselves.

**How a movement is split per child and service** — in proportion to what it settled:

* a payment of an invoice: the invoice's lines, grouped by child and service (credit lines of
  a child and service reduce that group; credit lines that name neither, the credit notes of
  earlier invoices, reduce every group in proportion, which leaves the proportions as they
  are); a group at zero or below takes nothing;
* an online payment: each invoice it settled as above, for the share applied to it; a
  prepaid cart, the bookings it confirmed, by their prices; what it applied to nothing
  (paid twice, places released before the money came) stays "non affecté";
* a refund or a chargeback: in the proportions of the payment it gives back.

Shares are rounded to the cent by the largest remainder, so they add up to the movement.
Lines billed before invoice lines kept their service (and imported lines) find it from the
prestation's label when one service has it; children are found by the name billed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from foyer.errors import FoyerError, NotFound
from reservations.for_billing import Booking, Prestation, Service
from shared_identity import notifications
from shared_identity.models import Child, Membership
from tenants.tasks import enqueue_on_commit

from .models import (
    AttestationRun,
    AttestationSending,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    Refund,
    Regie,
    default_regie_id,
)
from .pdf import render_attestation_pdf
from .services import payers

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
GENERAL = "paiements"
TAX_CREDIT = "credit-impot"
KINDS = {
    GENERAL: gettext_lazy("Attestation de paiement"),
    TAX_CREDIT: gettext_lazy(
        "Attestation pour le crédit d'impôt (frais de garde des enfants de moins de 6 ans)"
    ),
}
TAX_CREDIT_AGE = 6
# The first year an administrator may issue attestations for.
FIRST_YEAR = 2000


@dataclass(frozen=True, order=True)
class Key:
    """Who and what a share of a payment is for: the child as billed, the service (None:
    unknown, or not affected at all when the child is empty too)."""

    child: str
    service_id: int | None


UNALLOCATED = Key("", None)


@dataclass
class Movement:
    regie_id: int
    on: dt.date
    method: str
    amount: Decimal  # negative: money given back
    shares: dict[Key, Decimal]


@dataclass
class Row:
    """One child and one service of a régie: its dated movements and its total."""

    child: str
    service: str
    movements: list[tuple[dt.date, str, Decimal]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((amount for _on, _method, amount in self.movements), ZERO)


@dataclass
class Section:
    regie: Regie
    rows: list[Row]

    @property
    def total(self) -> Decimal:
        return sum((row.total for row in self.rows), ZERO)


@dataclass
class Attestation:
    commune: object
    family_id: int
    year: int
    kind: str
    payer_name: str
    payer_address: str
    dossier_number: str
    sections: list[Section]
    # The children the tax-credit kind kept (name, birth date).
    children: list[tuple[str, dt.date]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((section.total for section in self.sections), ZERO)

    @property
    def title(self) -> str:
        return str(KINDS[self.kind])

    @property
    def filename(self) -> str:
        return f"attestation-{self.kind}-{self.commune.slug}-{self.year}.pdf"


def split(amount: Decimal, weights: dict[Key, Decimal]) -> dict[Key, Decimal]:
    """``amount`` shared in proportion to the positive ``weights``, rounded to the cent by the
    largest remainder (ties: in key order), so the shares add up to ``amount`` exactly."""
    positive = {key: weight for key, weight in weights.items() if weight > 0}
    if not positive:
        return {UNALLOCATED: amount} if amount else {}
    total = sum(positive.values())
    sign = -1 if amount < 0 else 1
    cents = int(abs(amount) / CENT)
    exact = {key: Decimal(cents) * weight / total for key, weight in positive.items()}
    floors = {key: int(value.to_integral_value(rounding=ROUND_FLOOR)) for key, value in exact.items()}
    left = cents - sum(floors.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - floors[k]), k.child, k.service_id or 0))[:left]:
        floors[key] += 1
    return {key: sign * Decimal(count) * CENT for key, count in floors.items() if count}


def _add(into: dict[Key, Decimal], shares: dict[Key, Decimal]) -> None:
    for key, amount in shares.items():
        into[key] = into.get(key, ZERO) + amount


def _paid_attempts():
    """Online payments that paid something: not the 0,01 € that signs a direct-debit mandate
    (refunded at once, it pays for no childcare)."""
    return PaymentAttempt.objects.filter(status=PaymentAttempt.Status.PAID, mandate_signup__isnull=True)


class _Ledger:
    """The family's movements of money in the current commune in one year."""

    def __init__(self, *, family_id: int, year: int, zone: ZoneInfo) -> None:
        self.family_id, self.year, self.zone = family_id, year, zone
        self.start = dt.datetime(year, 1, 1, tzinfo=zone)
        self.end = dt.datetime(year + 1, 1, 1, tzinfo=zone)
        labels: dict[str, set[int]] = defaultdict(set)
        for label, service_id in Prestation.objects.values_list("label", "service_id"):
            labels[label].add(service_id)
        self._label_service = {label: ids.pop() for label, ids in labels.items() if len(ids) == 1}
        self._invoice_weights: dict[int, dict[Key, Decimal]] = {}

    def _day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.zone).date()

    def _in_year(self, name: str) -> Q:
        return Q(**{f"{name}__gte": self.start, f"{name}__lt": self.end})

    def invoice_weights(self, invoice_id: int) -> dict[Key, Decimal]:
        if invoice_id not in self._invoice_weights:
            weights: dict[Key, Decimal] = {}
            for line in InvoiceLine.objects.filter(invoice_id=invoice_id):
                service_id = line.service_id or self._label_service.get(line.label)
                if not line.child_name and service_id is None:
                    continue  # a credit note of an earlier invoice: every group in proportion
                _add(weights, {Key(line.child_name, service_id): line.amount})
            self._invoice_weights[invoice_id] = weights
        return self._invoice_weights[invoice_id]

    def attempt_shares(self, attempt: PaymentAttempt) -> dict[Key, Decimal]:
        """What an online payment paid, per child and service (adds up to its amount)."""
        shares: dict[Key, Decimal] = {}
        applied = ZERO
        for payment in Payment.objects.filter(attempt=attempt).order_by("pk"):
            _add(shares, split(payment.amount, self.invoice_weights(payment.invoice_id)))
            applied += payment.amount
        if attempt.cart_id:
            weights: dict[Key, Decimal] = {}
            for booking in _bookings_paid_by(attempt):
                child = f"{booking.child.first_name} {booking.child.last_name}"
                _add(weights, {Key(child, booking.prestation.service_id): booking.price})
            part = min(sum(weights.values(), ZERO), attempt.amount - applied)
            _add(shares, split(part, weights))
            applied += part
        _add(shares, split(attempt.amount - applied, {}))
        return shares

    def movements(self) -> list[Movement]:
        found: list[Movement] = []
        counter = Payment.objects.filter(
            self._in_year("received_at"), invoice__family_id=self.family_id, attempt__isnull=True
        ).select_related("invoice")
        for payment in counter:
            found.append(
                Movement(
                    payment.invoice.regie_id,
                    self._day(payment.received_at),
                    str(payment.get_method_display()),
                    payment.amount,
                    split(payment.amount, self.invoice_weights(payment.invoice_id)),
                )
            )
        paid = _paid_attempts().filter(family_id=self.family_id)
        refunds = list(
            Refund.objects.filter(self._in_year("created_at"), attempt__in=paid).exclude(provider_id="")
        )
        charged_back = paid.filter(self._in_year("updated_at"), amount_charged_back__gt=0)
        attempts = paid.filter(
            self._in_year("settled_at")
            | Q(pk__in=[refund.attempt_id for refund in refunds])
            | Q(pk__in=charged_back.values("pk"))
        )
        method = str(Payment.Method.ONLINE.label)
        for attempt in attempts.order_by("pk"):
            shares = self.attempt_shares(attempt)
            if attempt.settled_at and self.start <= attempt.settled_at < self.end:
                found.append(
                    Movement(attempt.regie_id, self._day(attempt.settled_at), method, attempt.amount, shares)
                )
            given_back = [
                (r.created_at, _("Remboursement"), r.amount) for r in refunds if r.attempt_id == attempt.pk
            ]
            if attempt.amount_charged_back and self.start <= attempt.updated_at < self.end:
                given_back.append(
                    (attempt.updated_at, _("Paiement rejeté (chargeback)"), attempt.amount_charged_back)
                )
            for moment, label, amount in given_back:
                found.append(
                    Movement(attempt.regie_id, self._day(moment), label, -amount, split(-amount, shares))
                )
        found.sort(key=lambda m: (m.on, m.regie_id))
        return found


def _bookings_paid_by(attempt: PaymentAttempt) -> list[Booking]:
    """The bookings of the attempt's cart that its régie collects and that the payment
    confirmed (those cancelled after it came were still paid; a credit gives them back)."""
    regie = Q(prestation__service__regie_id=attempt.regie_id)
    if attempt.regie_id == default_regie_id():
        regie |= Q(prestation__service__regie__isnull=True)
    return list(
        Booking.objects.filter(regie, cart_id=attempt.cart_id)
        .exclude(status=Booking.Status.HELD)
        .exclude(status=Booking.Status.CANCELLED, cancelled_at__lt=attempt.settled_at)
        .select_related("child", "prestation")
        .order_by("date", "pk")
    )


def under_tax_credit_age(birth_date: dt.date, year: int) -> bool:
    """Under six on 1 January of ``year`` as the tax administration counts it: born on
    1 January six years before or later ("enfants nés à compter du 1er janvier N-6")."""
    return birth_date >= dt.date(year - TAX_CREDIT_AGE, 1, 1)


def build_attestation(*, family_id: int, year: int, kind: str = GENERAL) -> Attestation:
    """The attestation of the family in the current commune for ``year``."""
    if kind not in KINDS:
        raise NotFound(_("Cette attestation n'existe pas."))
    commune = connection.tenant
    zone = ZoneInfo(commune.timezone)
    movements = _Ledger(family_id=family_id, year=year, zone=zone).movements()
    services = {s.pk: s for s in Service.objects.all()}
    children = {
        f"{c.first_name} {c.last_name}": c for c in Child.objects.filter(family_id=family_id).order_by("pk")
    }

    def kept(key: Key) -> bool:
        if kind == GENERAL:
            return True
        service, child = services.get(key.service_id), children.get(key.child)
        return bool(
            service and service.tax_credit_eligible and child and under_tax_credit_age(child.birth_date, year)
        )

    rows: dict[tuple[int, Key], Row] = {}
    for movement in movements:
        for key, amount in movement.shares.items():
            if not kept(key):
                continue
            row = rows.get((movement.regie_id, key))
            if row is None:
                service = services.get(key.service_id)
                row = rows[(movement.regie_id, key)] = Row(
                    child=key.child or str(_("Non affecté")),
                    service=service.name if service else str(_("Autres prestations")),
                )
            row.movements.append((movement.on, movement.method, amount))
    regies = Regie.objects.in_bulk({regie_id for regie_id, _key in rows})
    sections = []
    for regie_id in sorted(regies):
        keys = sorted(key for rid, key in rows if rid == regie_id)
        sections.append(Section(regie=regies[regie_id], rows=[rows[(regie_id, key)] for key in keys]))
    name, address = payers([family_id]).get(family_id, ("", ""))
    dossier = (
        Membership.objects.filter(commune=commune, family_id=family_id)
        .values_list("dossier_number", flat=True)
        .first()
    )
    kept_children = sorted({key.child for _rid, key in rows if key.child in children})
    return Attestation(
        commune=commune,
        family_id=family_id,
        year=year,
        kind=kind,
        payer_name=name,
        payer_address=address,
        dossier_number=dossier or "",
        sections=sections,
        children=[(child, children[child].birth_date) for child in kept_children],
    )


def get_family_attestation(*, family_ids: list[int], family_id: int, year: int, kind: str) -> Attestation:
    """An attestation of one of the caller's families in the current commune; the same not
    found for another family, a family that is not the commune's, or a year without payment."""
    if family_id not in family_ids or kind not in KINDS or not FIRST_YEAR <= year <= 2100:
        raise NotFound(_("Cette attestation n'existe pas."))
    if not Membership.objects.filter(commune=connection.tenant, family_id=family_id).exists():
        raise NotFound(_("Cette attestation n'existe pas."))
    if year not in years_with_payments(family_id=family_id):
        raise NotFound(_("Cette attestation n'existe pas."))
    return build_attestation(family_id=family_id, year=year, kind=kind)


def years_with_payments(*, family_id: int) -> list[int]:
    """The years in which the family paid (or was refunded) something in the current commune,
    newest first."""
    zone = ZoneInfo(connection.tenant.timezone)

    def years(queryset, name: str) -> set[int]:
        return set(queryset.annotate(y=ExtractYear(name, tzinfo=zone)).values_list("y", flat=True).distinct())

    paid = _paid_attempts().filter(family_id=family_id)
    found = (
        years(Payment.objects.filter(invoice__family_id=family_id), "received_at")
        | years(paid.filter(settled_at__isnull=False), "settled_at")
        | years(Refund.objects.filter(attempt__in=paid).exclude(provider_id=""), "created_at")
    )
    return sorted(found, reverse=True)


def families_with_payments(*, year: int) -> list[int]:
    """Every family of the current commune with money paid or given back in ``year``."""
    zone = ZoneInfo(connection.tenant.timezone)
    start, end = dt.datetime(year, 1, 1, tzinfo=zone), dt.datetime(year + 1, 1, 1, tzinfo=zone)
    counter = Payment.objects.filter(received_at__gte=start, received_at__lt=end).values_list(
        "invoice__family_id", flat=True
    )
    online = (
        _paid_attempts()
        .filter(
            Q(settled_at__gte=start, settled_at__lt=end)
            | Q(refunds__created_at__gte=start, refunds__created_at__lt=end)
            | Q(amount_charged_back__gt=0, updated_at__gte=start, updated_at__lt=end)
        )
        .values_list("family_id", flat=True)
    )
    return sorted(set(counter) | set(online))


# --- Issuing a year's attestations to every family (commune administrators) -----------------------


def start_attestation_run(
    *, year: int, resend: bool = False, actor=None, today: dt.date | None = None
) -> AttestationRun:
    """Queue the attestations of ``year`` for every family that paid something that year: a
    task draws them and e-mails them to the families who want billing e-mails. Families that
    already received that year's are skipped unless ``resend``."""
    today = today or timezone.localdate(timezone=ZoneInfo(connection.tenant.timezone))
    if not FIRST_YEAR <= year <= today.year:
        raise FoyerError(
            "invalid",
            _("Les attestations n'ont pas été lancées."),
            extra={"fields": {"year": [_("Choisissez une année passée ou l'année en cours.")]}},
        )
    with transaction.atomic(durable=True):
        run = AttestationRun.objects.create(year=year, resend=resend, created_by=actor)
        from .tasks import issue_attestations

        enqueue_on_commit(issue_attestations, schema_name=connection.schema_name, run_id=run.pk)
    return run


def send_attestations(*, run_id: int, now: dt.datetime | None = None) -> AttestationRun | None:
    """The run's work, family by family: draw the attestations (the tax-credit one when the
    family has something that qualifies), e-mail them (PDFs attached) and remember it, in one
    transaction per family, so a family is never e-mailed twice for a year — even by two runs
    at once — unless the run was asked to resend. A task delivered again resumes."""
    run = AttestationRun.objects.filter(pk=run_id).first()
    if run is None or run.finished_at is not None:
        return run
    families = families_with_payments(year=run.year)
    addresses = notifications.recipients(families, kind="invoice")
    counts = {"families": 0, "generated": 0, "sent": 0, "already_sent": 0, "without_email": 0}
    for family_id in families:
        with transaction.atomic():
            attestations = [
                build_attestation(family_id=family_id, year=run.year, kind=kind) for kind in KINDS
            ]
            attestations = [a for a in attestations if a.sections]
            if not attestations:
                continue  # nothing to attest (a refund not confirmed by the provider)
            counts["families"] += 1
            if not addresses.get(family_id):
                counts["without_email"] += 1
                continue
            sending, created = AttestationSending.objects.get_or_create(
                family_id=family_id, year=run.year, defaults={"run": run, "sent_at": now or timezone.now()}
            )
            if not created and (not run.resend or sending.run_id == run.pk):
                counts["already_sent"] += 1
                continue
            files = [
                (a.filename, render_attestation_pdf(attestation=a), "application/pdf") for a in attestations
            ]
            counts["generated"] += len(files)
            notifications.notify_families(
                family_ids=[family_id],
                kind="invoice",
                template="attestations_issued",
                context={"year": run.year, "commune": connection.tenant, "total": attestations[0].total},
                attachments=files,
            )
            counts["sent"] += 1
            if not created:
                AttestationSending.objects.filter(pk=sending.pk).update(
                    run=run, sent_at=now or timezone.now()
                )
    AttestationRun.objects.filter(pk=run.pk).update(finished_at=now or timezone.now(), **counts)
    run.refresh_from_db()
    return run
