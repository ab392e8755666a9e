"""A family's dossier in the console: everything the commune holds about the family on one
page (guardians and their accounts, children, activation links, enrolments and quotient
familial, bookings around today, invoices, payments, avoirs, cancellation requests and
requests). Reads this commune's schema only, in a fixed number of queries whatever the size
of the family (ten, after get_family_dossier's four)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import CreditNote, Invoice, Payment, PaymentAttempt
from demandes.models import Request
from reservations.console_selectors import FamilyReservations, get_family_reservations
from reservations.models import Booking, CancellationRequest
from shared_identity.models import Child, Guardian, Invitation, Membership

# Bookings shown around today: the next four weeks and the past four.
BOOKING_WINDOW = dt.timedelta(weeks=4)


@dataclass(frozen=True)
class GuardianLine:
    guardian: Guardian
    state: str  # "none", "active", "disabled"
    label: str
    last_login: dt.datetime | None


@dataclass(frozen=True)
class FamilyDossier:
    membership: Membership
    today: dt.date
    guardians: list[GuardianLine]
    children: list[Child]
    invitations: list[Invitation]  # the family's activation links in this commune, newest first
    reservations: FamilyReservations
    upcoming: list[Booking]  # from today, soonest first
    recent: list[Booking]  # before today, latest first
    invoices: list[Invoice]  # newest period first
    payments: list[Payment]
    attempts: list[PaymentAttempt]
    credit_notes: list[CreditNote]
    cancellation_requests: list[CancellationRequest]  # pending first
    requests: list[Request]  # open first

    @property
    def window_end(self) -> dt.date:
        return self.today + BOOKING_WINDOW - dt.timedelta(days=1)

    @property
    def window_start(self) -> dt.date:
        return self.today - BOOKING_WINDOW

    @property
    def balance(self) -> Decimal:
        """What the family still owes on its issued invoices."""
        return sum(
            (i.amount_due for i in self.invoices if i.status == Invoice.Status.ISSUED), Decimal("0.00")
        )

    @property
    def overdue(self) -> list[Invoice]:
        return [
            i
            for i in self.invoices
            if i.status == Invoice.Status.ISSUED and i.due_date and i.due_date < self.today
        ]


def _guardian_line(guardian: Guardian) -> GuardianLine:
    account = guardian.account
    if account is None:
        return GuardianLine(guardian, "none", _("Pas encore de compte"), None)
    if not account.is_active:
        return GuardianLine(guardian, "disabled", _("Compte désactivé"), account.last_login)
    return GuardianLine(guardian, "active", _("Compte actif"), account.last_login)


def _open_first(field: str, open_values) -> Case:
    return Case(
        When(**{f"{field}__in": open_values}, then=Value(0)), default=Value(1), output_field=IntegerField()
    )


def get_family_dossier_page(*, membership: Membership, now: dt.datetime | None = None) -> FamilyDossier:
    """Everything about the family of ``membership`` (from shared_identity.selectors.
    get_family_dossier, which prefetched its children and activation links) in the commune
    currently selected, which must be the membership's."""
    family_id = membership.family_id
    today = timezone.localdate(now or timezone.now(), timezone=ZoneInfo(membership.commune.timezone))
    guardians = Guardian.objects.filter(family_id=family_id).select_related("account").order_by("pk")
    bookings = list(
        Booking.objects.filter(
            family_id=family_id, date__gte=today - BOOKING_WINDOW, date__lt=today + BOOKING_WINDOW
        )
        .select_related("child", "prestation", "site")
        .order_by("date", "child__first_name", "prestation__label", "pk")
    )
    return FamilyDossier(
        membership=membership,
        today=today,
        guardians=[_guardian_line(g) for g in guardians],
        children=list(membership.family.children.all()),
        invitations=list(membership.invitations.all()),
        reservations=get_family_reservations(family=membership.family),
        upcoming=[b for b in bookings if b.date >= today],
        recent=[b for b in reversed(bookings) if b.date < today],
        invoices=list(Invoice.objects.filter(family_id=family_id).order_by("-period_start", "-pk")),
        payments=list(
            Payment.objects.filter(invoice__family_id=family_id)
            .select_related("invoice")
            .order_by("-received_at", "-pk")
        ),
        attempts=list(PaymentAttempt.objects.filter(family_id=family_id).order_by("-created_at", "-pk")),
        credit_notes=list(
            CreditNote.objects.filter(family_id=family_id).select_related("invoice").order_by("-created_at")
        ),
        cancellation_requests=list(
            CancellationRequest.objects.filter(family_id=family_id)
            .select_related("booking__child", "booking__prestation", "booking__site")
            .order_by(_open_first("status", [CancellationRequest.Status.PENDING]), "-created_at", "-pk")
        ),
        requests=list(
            Request.objects.filter(family_id=family_id)
            .select_related("category", "child", "assignee")
            .order_by(_open_first("status", Request.OPEN), "-updated_at", "-pk")
        ),
    )
