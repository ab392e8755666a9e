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
        return [
            Day(
                day=day,
                slots=[
                    DaySlot(row, cell)
                    for row in self.rows
                    for cell in row.cells
                    if cell.day == day
                    and cell.state != "not_enrolled"
                    and day.weekday() in row.prestation["weekdays"]
                ],
            )
            for day in self.days
        ]

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
    scolaire" spans communes). Each cell says what can be done and until when."""
    end = start + dt.timedelta(days=6)
    rows: list[Row] = []
    cart_count = 0
    weekend = False
    services, sites = set(), set()
    for commune_data in data:
        cart_count += len(commune_data.cart)
        for row in _commune_rows(commune_data, children, start, end, now):
            services.add(row.prestation["service"])
            sites.add(row.site)
            if (service and row.prestation["service"] != service) or (site and row.site != site):
                continue
            rows.append(row)
            weekend = weekend or any(d >= 5 for d in row.prestation["weekdays"])
    rows.sort(
        key=lambda r: (
            r.child.birth_date,
            r.child.pk,
            r.commune.name,
            r.prestation["service"],
            r.prestation["label"],
        )
    )
    days = [start + dt.timedelta(days=offset) for offset in range(7 if weekend else 5)]
    for row in rows:
        row.cells = [cell for cell in row.cells if cell.day in days]
    return Week(
        start=start,
        end=end,
        days=days,
        rows=rows,
        cart_count=cart_count,
        services=sorted(services),
        sites=sorted(sites),
    )


def _commune_rows(data: CommuneData, children: list[Child], start, end, now) -> list[Row]:
    tz = ZoneInfo(data.commune.timezone)
    today = now.astimezone(tz).date()
    calendar = CommuneCalendar.build(
        ((c["date"], c["site_id"], c["reason"]) for c in data.closures),
        ((h["start"], h["end"]) for h in data.holidays),
    )
    prestations_by_service: dict[int, list[dict]] = {}
    for prestation in data.prestations:
        prestations_by_service.setdefault(prestation["service_id"], []).append(prestation)
    bookings = {(b["child_id"], b["prestation_id"], b["date"]): b for b in data.bookings}
    in_cart = {(i["child_id"], i["prestation_id"], i["date"]): i["id"] for i in data.cart}
    full = {(f["prestation_id"], f["site_id"], f["date"]) for f in data.full}
    pending = set(data.pending_requests)
    children_by_id = {child.pk: child for child in children}
    rows = []
    for enrolment in data.enrolments:
        child = children_by_id.get(enrolment["child_id"])
        if child is None:
            continue
        for prestation in prestations_by_service.get(enrolment["service_id"], []):
            if enrolment["site_id"] not in prestation["sites"]:
                continue
            row = Row(data.commune, child, prestation, enrolment["site_id"], enrolment["site"])
            for offset in range(7):
                day = start + dt.timedelta(days=offset)
                row.cells.append(
                    _cell(
                        day=day,
                        today=today,
                        now=now,
                        tz=tz,
                        child=child,
                        prestation=prestation,
                        enrolment=enrolment,
                        calendar=calendar,
                        booking=bookings.get((child.pk, prestation["id"], day)),
                        cart_item=in_cart.get((child.pk, prestation["id"], day)),
                        full=(prestation["id"], enrolment["site_id"], day) in full,
                        pending=pending,
                    )
                )
            rows.append(row)
    rows = _merge_enrolment_rows(rows)
    if not data.commune.is_active:
        for row in rows:
            for cell in row.cells:
                _read_only(cell)
    return rows


def _read_only(cell: Cell) -> None:
    """A suspended commune's cells: what is booked stays shown, nothing can be done."""
    if cell.can_book or cell.can_cancel or cell.can_request or cell.can_signal_absence or cell.cart_item_id:
        cell.note = _("service suspendu par la commune")
    cell.can_book = cell.can_cancel = cell.can_request = cell.can_signal_absence = False
    cell.cart_item_id = None
    cell.deadline = None


def _merge_enrolment_rows(rows: list[Row]) -> list[Row]:
    """Two enrolments of one child in the same service and site (two periods) are one row."""
    merged: dict[tuple, Row] = {}
    for row in rows:
        key = (row.commune.pk, row.child.pk, row.prestation["id"], row.site_id)
        if key not in merged:
            merged[key] = row
            continue
        kept = merged[key]
        kept.cells = [
            b if a.state == "not_enrolled" else a for a, b in zip(kept.cells, row.cells, strict=True)
        ]
    return list(merged.values())


def _cell(
    *, day, today, now, tz, child, prestation, enrolment, calendar, booking, cart_item, full, pending
) -> Cell:
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
            rule = rule_from(prestation["cancellation_rule"])
            cell.can_signal_absence = booking["id"] not in pending
            if rule.is_open(day, now=now, tz=tz, start_time=start_time):
                cell.can_cancel = True
                deadline = rule.deadline_for(day, tz=tz, start_time=start_time)
                cell.note = (
                    _("annulable jusqu'au %(deadline)s") % {"deadline": format_deadline(deadline, tz=tz)}
                    if deadline
                    else _("annulable")
                )
            elif booking["id"] in pending:
                cell.note = _("demande d'annulation en cours")
            else:
                cell.can_request = True
                cell.note = _("délai d'annulation dépassé : une demande part à la commune")
        return cell
    if cart_item is not None:
        return Cell(day, "in_cart", _("Dans le panier"), note=_("à valider"), cart_item_id=cart_item)
    if not (enrolment["start"] <= day <= enrolment["end"]):
        return Cell(day, "not_enrolled", _("Non inscrit"))
    reason = closed_reason(
        weekdays=prestation["weekdays"],
        period=prestation["period"],
        site_id=enrolment["site_id"],
        day=day,
        calendar=calendar,
    )
    if reason:
        return Cell(day, "closed", _("Fermé"), note=reason)
    if day < today:
        return Cell(day, "past", _("Non réservé"))
    if full:
        return Cell(day, "full", _("Complet"))
    rule = rule_from(prestation["booking_rule"])
    if rule.is_open(day, now=now, tz=tz, start_time=start_time):
        deadline = rule.deadline_for(day, tz=tz, start_time=start_time)
        note = (
            _("modifiable jusqu'au %(deadline)s") % {"deadline": format_deadline(deadline, tz=tz)}
            if deadline
            else ""
        )
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
