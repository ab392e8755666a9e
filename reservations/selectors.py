"""Reads for families: the unified week, built from the data the family router read for every
commune of the family in one query (family.router.build_week)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from foyer.formatting import format_money
from shared_identity.models import Child
from tenants.models import Commune

from .deadlines import format_deadline, rule_from
from .family_parts import CommuneData, start_time_of
from .opening import CommuneCalendar, closed_reason

BOOKING_LABELS = {
    "held": _("En attente de paiement"),
    "confirmed": _("Réservé"),
    "attended": _("Présent"),
    "absent": _("Absent"),
    "absent_justified": _("Absence justifiée"),
}


@dataclass
class Cell:
    day: dt.date
    state: str
    label: str
    note: str = ""
    booking_id: int | None = None
    cart_item_id: int | None = None
    can_book: bool = False
    can_cancel: bool = False
    can_request: bool = False
    can_signal_absence: bool = False  # a confirmed booking: "Signaler une absence" (via the cart)
    price: str = ""
    deadline: dt.datetime | None = None  # until when a free place can be booked at the usual price


BOOKED_STATES = frozenset({"held", "confirmed", "attended", "absent", "absent_justified"})


@dataclass
class Row:
    commune: Commune
    child: Child
    prestation: dict
    site_id: int
    site: str
    cells: list[Cell] = field(default_factory=list)

    @property
    def booked_count(self) -> int:
        """The days of the week booked for this child and prestation (as the guide's "3 repas")."""
        return sum(1 for cell in self.cells if cell.state in BOOKED_STATES)

    @property
    def free_count(self) -> int:
        """The days still free to book at the usual price ("Réserver la semaine")."""
        return sum(1 for cell in self.cells if cell.state == "available")


@dataclass
class DaySlot:
    row: Row
    cell: Cell


@dataclass
class Day:
    """One day of the week as a phone shows it: every child's prestations in every commune."""

    day: dt.date
    slots: list[DaySlot]


@dataclass
class Week:
    start: dt.date
    end: dt.date
    days: list[dt.date]
    rows: list[Row]
    cart_count: int
    services: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.start.isocalendar().week

    @property
    def title(self) -> str:
        return _("Semaine %(number)s du %(start)s au %(end)s") % {
            "number": self.number,
            "start": self.start.strftime("%d/%m/%Y"),
            "end": self.end.strftime("%d/%m/%Y"),
        }

    @property
    def by_day(self) -> list[Day]:
        """The same cells, day by day, without those where the prestation is not offered that
        weekday or the child is not enrolled."""
        slots: dict[dt.date, list[DaySlot]] = {day: [] for day in self.days}
        for row in self.rows:
            weekdays = row.prestation["weekdays"]
            for cell in row.cells:
                if cell.state != "not_enrolled" and cell.day.weekday() in weekdays and cell.day in slots:
                    slots[cell.day].append(DaySlot(row, cell))
        return [Day(day=day, slots=slots[day]) for day in self.days]

    @property
    def previous(self) -> dt.date:
        return self.start - dt.timedelta(days=7)

    @property
    def next(self) -> dt.date:
        return self.start + dt.timedelta(days=7)


def assemble_week(
    *,
    data: list[CommuneData],
    children: list[Child],
    start: dt.date,
    service: str = "",
    site: str = "",
    now: dt.datetime,
) -> Week:
    """The week starting ``start`` (a Monday) from the family router's data, every commune
    together, for ``children``, for one service or site if asked (by name: "Restauration
    scolaire" spans communes). Each cell says what can be done and until when.

    The rows are laid out first, then the cells of the days shown only (the weekend when a row
    has a prestation then); what does not depend on the child (a deadline, its French text, why
    a day is closed) is worked out once per prestation and day, whatever the number of children
    and communes sharing it."""
    end = start + dt.timedelta(days=6)
    rules = _Rules(now)
    laid_out: list[tuple[_CommuneCells, Row, dict]] = []
    cart_count = 0
    weekend = False
    services, sites = set(), set()
    for commune_data in data:
        cart_count += len(commune_data.cart)
        commune = _CommuneCells(commune_data, now=now, rules=rules)
        for row, enrolment in commune.rows(children):
            services.add(row.prestation["service"])
            sites.add(row.site)
            if (service and row.prestation["service"] != service) or (site and row.site != site):
                continue
            laid_out.append((commune, row, enrolment))
            weekend = weekend or any(d >= 5 for d in row.prestation["weekdays"])
    days = [start + dt.timedelta(days=offset) for offset in range(7 if weekend else 5)]
    rows: list[Row] = []
    merged: dict[tuple, Row] = {}
    for commune, row, enrolment in laid_out:
        row.cells = [commune.cell(day, row.child, row.prestation, enrolment) for day in days]
        if not commune.data.commune.is_active:
            for cell in row.cells:
                _read_only(cell)
        # Two enrolments of one child in the same service and site (two periods) are one row.
        key = (row.commune.pk, row.child.pk, row.prestation["id"], row.site_id)
        kept = merged.get(key)
        if kept is None:
            merged[key] = row
            rows.append(row)
        else:
            kept.cells = [
                b if a.state == "not_enrolled" else a for a, b in zip(kept.cells, row.cells, strict=True)
            ]
    rows.sort(
        key=lambda r: (
            r.child.birth_date,
            r.child.pk,
            r.commune.name,
            r.prestation["service"],
            r.prestation["label"],
        )
    )
    return Week(
        start=start,
        end=end,
        days=days,
        rows=rows,
        cart_count=cart_count,
        services=sorted(services),
        sites=sorted(sites),
    )


class _Rules:
    """The booking and cancellation deadlines of one assembly, each worked out once per rule,
    day, timezone and start time (communes and children share them)."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.parsed: dict[str, object] = {}
        self.found: dict[tuple, tuple[bool, dt.datetime | None, str]] = {}
        self.translated: dict[str, str] = {}

    def text(self, message: str) -> str:
        """``gettext(message)``, looked up once per assembly (a week has hundreds of cells)."""
        found = self.translated.get(message)
        if found is None:
            found = self.translated[message] = _(message)
        return found

    def state(self, rule_data: dict | None, day: dt.date, *, tz: ZoneInfo, start_time: dt.time):
        """(open at ``now``, the deadline, its French text) of a prestation's rule for a day."""
        text = repr(rule_data)
        key = (text, day, tz.key, start_time)
        found = self.found.get(key)
        if found is None:
            rule = self.parsed.get(text)
            if rule is None:
                rule = self.parsed[text] = rule_from(rule_data)
            is_open = rule.is_open(day, now=self.now, tz=tz, start_time=start_time)
            deadline = rule.deadline_for(day, tz=tz, start_time=start_time) if is_open else None
            label = format_deadline(deadline, tz=tz) if deadline else ""
            found = self.found[key] = (is_open, deadline, label)
        return found


class _CommuneCells:
    """One commune's data, indexed for laying out its rows and cells."""

    def __init__(self, data: CommuneData, *, now: dt.datetime, rules: _Rules):
        self.data = data
        self.now = now
        self.rules = rules
        self.tz = ZoneInfo(data.commune.timezone)
        self.today = now.astimezone(self.tz).date()
        self.calendar = CommuneCalendar.build(
            ((c["date"], c["site_id"], c["reason"]) for c in data.closures),
            ((h["start"], h["end"]) for h in data.holidays),
        )
        self.bookings = {(b["child_id"], b["prestation_id"], b["date"]): b for b in data.bookings}
        self.in_cart = {(i["child_id"], i["prestation_id"], i["date"]): i["id"] for i in data.cart}
        self.full = {(f["prestation_id"], f["site_id"], f["date"]) for f in data.full}
        self.pending = set(data.pending_requests)
        self.closed: dict[tuple, str | None] = {}

    def rows(self, children: list[Child]) -> list[tuple[Row, dict]]:
        """A row (without its cells) per enrolment of a child and prestation offered at its site."""
        prestations_by_service: dict[int, list[dict]] = {}
        for prestation in self.data.prestations:
            prestations_by_service.setdefault(prestation["service_id"], []).append(prestation)
        children_by_id = {child.pk: child for child in children}
        rows = []
        for enrolment in self.data.enrolments:
            child = children_by_id.get(enrolment["child_id"])
            if child is None:
                continue
            for prestation in prestations_by_service.get(enrolment["service_id"], []):
                if enrolment["site_id"] in prestation["sites"]:
                    row = Row(self.data.commune, child, prestation, enrolment["site_id"], enrolment["site"])
                    rows.append((row, enrolment))
        return rows

    def closed_reason(self, prestation: dict, site_id: int, day: dt.date) -> str | None:
        key = (prestation["id"], site_id, day)
        if key not in self.closed:
            self.closed[key] = closed_reason(
                weekdays=prestation["weekdays"],
                period=prestation["period"],
                site_id=site_id,
                day=day,
                calendar=self.calendar,
            )
        return self.closed[key]

    def cell(self, day: dt.date, child: Child, prestation: dict, enrolment: dict) -> Cell:
        return _cell(
            day=day,
            today=self.today,
            commune=self,
            prestation=prestation,
            enrolment=enrolment,
            booking=self.bookings.get((child.pk, prestation["id"], day)),
            cart_item=self.in_cart.get((child.pk, prestation["id"], day)),
            full=(prestation["id"], enrolment["site_id"], day) in self.full,
        )


def _read_only(cell: Cell) -> None:
    """A suspended commune's cells: what is booked stays shown, nothing can be done."""
    if cell.can_book or cell.can_cancel or cell.can_request or cell.can_signal_absence or cell.cart_item_id:
        cell.note = _("service suspendu par la commune")
    cell.can_book = cell.can_cancel = cell.can_request = cell.can_signal_absence = False
    cell.cart_item_id = None
    cell.deadline = None


def _cell(*, day, today, commune: _CommuneCells, prestation, enrolment, booking, cart_item, full) -> Cell:
    tz, rules = commune.tz, commune.rules
    _ = rules.text  # noqa: N806 - the messages below stay marked for makemessages
    start_time = start_time_of(prestation)
    if booking is not None:
        cell = Cell(
            day,
            booking["status"],
            BOOKING_LABELS.get(booking["status"], booking["status"]),
            booking_id=booking["id"],
            price=format_money(Decimal(str(booking["price"]))),
        )
        if booking["status"] == "held":
            cell.can_cancel = True
            cell.note = _("à payer pour confirmer")
        elif booking["status"] == "confirmed" and day >= today and cart_item is not None:
            cell.cart_item_id = cart_item
            cell.note = _("absence au panier : à valider")
        elif booking["status"] == "confirmed" and day >= today:
            is_open, deadline, deadline_label = rules.state(
                prestation["cancellation_rule"], day, tz=tz, start_time=start_time
            )
            cell.can_signal_absence = booking["id"] not in commune.pending
            if is_open:
                cell.can_cancel = True
                cell.note = (
                    _("annulable jusqu'au %(deadline)s") % {"deadline": deadline_label}
                    if deadline
                    else _("annulable")
                )
            elif booking["id"] in commune.pending:
                cell.note = _("demande d'annulation en cours")
            else:
                cell.can_request = True
                cell.note = _("délai d'annulation dépassé : une demande part à la commune")
        return cell
    if cart_item is not None:
        return Cell(day, "in_cart", _("Dans le panier"), note=_("à valider"), cart_item_id=cart_item)
    if not (enrolment["start"] <= day <= enrolment["end"]):
        return Cell(day, "not_enrolled", _("Non inscrit"))
    reason = commune.closed_reason(prestation, enrolment["site_id"], day)
    if reason:
        return Cell(day, "closed", _("Fermé"), note=reason)
    if day < today:
        return Cell(day, "past", _("Non réservé"))
    if full:
        return Cell(day, "full", _("Complet"))
    is_open, deadline, deadline_label = rules.state(
        prestation["booking_rule"], day, tz=tz, start_time=start_time
    )
    if is_open:
        note = _("modifiable jusqu'au %(deadline)s") % {"deadline": deadline_label} if deadline else ""
        return Cell(day, "available", _("Non réservé"), note=note, can_book=True, deadline=deadline)
    if prestation.get("late_price") is not None:
        late = format_money(Decimal(str(prestation["late_price"])))
        return Cell(
            day,
            "late",
            _("Hors délai"),
            note=_("réservable hors délai à %(price)s") % {"price": late},
            can_book=True,
            price=late,
        )
    return Cell(day, "deadline_passed", _("Non réservé"), note=_("délai dépassé"))
