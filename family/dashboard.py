"""What the family portal's dashboard shows an account, "À faire" first: the invoices to pay,
the places held awaiting payment, the booking deadlines that close in the coming days, the
requests waiting for the family's answer; then this week's bookings, the communes, the
children and the news. Every list comes from the family router: one query per kind, whatever
the number of communes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone

from actualites.family_parts import Feed
from billing.family_parts import FamilyInvoice, invoice_lists
from demandes.family_parts import FamilyRequest
from reservations.deadlines import format_deadline
from reservations.family_parts import HeldCart
from reservations.opening import week_start
from reservations.selectors import BOOKED_STATES, Day, DaySlot, Week
from shared_identity import selectors
from shared_identity.models import Account, Membership, StaffRole
from tenants.models import Commune

from . import router

DASHBOARD_NEWS = 3
# How far ahead a booking deadline is worth a line of "À faire".
DEADLINE_HORIZON = dt.timedelta(days=7)


@dataclass
class Deadline:
    """The soonest booking deadline of a commune for a week: "Réservez la semaine du 14
    décembre avant dimanche 13 décembre à 18h00" (and how many places are still free to book in it)."""

    commune: Commune
    week: dt.date
    closes_at: dt.datetime
    open_slots: int

    @property
    def closes_label(self) -> str:
        return format_deadline(self.closes_at, tz=ZoneInfo(self.commune.timezone))


@dataclass
class Dashboard:
    memberships: list[Membership]
    children: list
    staff_roles: QuerySet[StaffRole]
    news: Feed
    invoices_to_pay: list[FamilyInvoice] = field(default_factory=list)
    held_carts: list[HeldCart] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)
    requests_awaiting: list[FamilyRequest] = field(default_factory=list)
    this_week: list[Day] = field(default_factory=list)
    suspended: list[Commune] = field(default_factory=list)
    today: dt.date | None = None

    @property
    def has_todo(self) -> bool:
        return bool(self.invoices_to_pay or self.held_carts or self.deadlines or self.requests_awaiting)


def get_dashboard(account: Account, *, now: dt.datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    today = timezone.localdate(now)
    memberships = list(selectors.list_memberships_of(account))
    children = list(selectors.list_children_of(account))
    scope = router.scope_of(memberships, children)
    board = Dashboard(
        memberships=memberships,
        children=children,
        staff_roles=selectors.list_staff_communes(account),
        # The latest news of every commune and the unread count: one query.
        news=router.family_news_feed(
            account=account, communes=scope.open_communes, page_size=DASHBOARD_NEWS, now=now
        ),
        today=today,
        suspended=scope.suspended_communes,
    )
    if not scope.communes:
        return board
    board.invoices_to_pay = sorted(
        (i for i in invoice_lists(router.list_family_invoices(scope=scope)).payable if i.amount_due > 0),
        key=lambda invoice: (invoice.due_date, invoice.commune.name),
    )
    board.held_carts = router.list_held_carts(scope=scope)
    board.requests_awaiting = [
        request
        for request in router.list_family_requests(family_ids=scope.family_ids, communes=scope.open_communes)
        if request.awaiting_reply
    ]
    # This week and the next, from one read.
    monday = week_start(today)
    weeks = router.build_weeks(scope=scope, start=monday, end=monday + dt.timedelta(days=7), now=now)
    board.deadlines = _deadlines(weeks, now=now)
    board.this_week = [
        Day(day=day.day, slots=[slot for slot in day.slots if slot.cell.state in BOOKED_STATES])
        for day in weeks[0].by_day
        if day.day >= today
    ]
    board.this_week = [day for day in board.this_week if day.slots]
    return board


def _deadlines(weeks: list[Week], *, now: dt.datetime) -> list[Deadline]:
    """Per commune and week, the soonest deadline of a free day that closes within the horizon."""
    found: dict[tuple[int, dt.date], Deadline] = {}
    for week in weeks:
        for day in week.by_day:
            for slot in day.slots:
                _consider(found, slot, week.start, now=now)
    return sorted(found.values(), key=lambda d: (d.closes_at, d.commune.name))


def _consider(found: dict, slot: DaySlot, week: dt.date, *, now: dt.datetime) -> None:
    deadline = slot.cell.deadline
    if not slot.cell.can_book or slot.cell.state != "available":
        return
    if deadline is None or not now <= deadline <= now + DEADLINE_HORIZON:
        return
    key = (slot.row.commune.pk, week)
    current = found.get(key)
    if current is None:
        found[key] = Deadline(commune=slot.row.commune, week=week, closes_at=deadline, open_slots=1)
        return
    current.open_slots += 1
    current.closes_at = min(current.closes_at, deadline)
