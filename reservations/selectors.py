"""Reads for families: the unified week view and the carts of all their communes, built from
the family router's single query."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from foyer.formatting import format_money
from shared_identity.models import Account, Child
from shared_identity.selectors import list_memberships_of
from tenants.models import Commune
from tenants.schemas import union_over_schemas

from .deadlines import DeadlineRule, format_deadline
from .opening import CommuneCalendar, closed_reason, price_for, week_start
from .router import CommuneData, read_family_reservations

BOOKING_LABELS = {
    "held": _("En attente de paiement"),
    "confirmed": _("Réservé"),
    "attended": _("Présent"),
    "absent": _("Absent"),
    "absent_justified": _("Absence justifiée"),
}


def _rule(data: dict | None) -> DeadlineRule:
    return DeadlineRule.from_dict(data) if data else DeadlineRule.none()


def _start_time(prestation: dict) -> dt.time:
    return dt.time.fromisoformat(prestation["start_time"]) if prestation.get("start_time") else dt.time(0, 0)


@dataclass
class FamilyScope:
    """What an account reaches as a guardian: families, children, communes."""

    family_ids: list[int]
    children: list[Child]
    communes: list[Commune]

    def family_of_child(self, child_id: int) -> int | None:
        return next((child.family_id for child in self.children if child.pk == child_id), None)


def get_family_scope(account: Account) -> FamilyScope:
    memberships = list(list_memberships_of(account))
    children = list(
        Child.objects.filter(family__guardians__account=account).distinct().order_by("birth_date")
    )
    return FamilyScope(
        family_ids=sorted(
            {membership.family_id for membership in memberships} | {c.family_id for c in children}
        ),
        children=children,
        # One entry per commune, even when two of the account's families belong to it.
        communes=list({m.commune_id: m.commune for m in memberships if m.commune.is_active}.values()),
    )


def get_family_scope_in(account: Account, commune: Commune) -> FamilyScope:
    """The account's family scope, for an action in a commune it belongs to (else not found)."""
    scope = get_family_scope(account)
    if commune not in scope.communes:
        raise NotFound()
    return scope


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
    price: str = ""


@dataclass
class Row:
    commune: Commune
    child: Child
    prestation: dict
    site_id: int
    site: str
    cells: list[Cell] = field(default_factory=list)


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
    def previous(self) -> dt.date:
        return self.start - dt.timedelta(days=7)

    @property
    def next(self) -> dt.date:
        return self.start + dt.timedelta(days=7)


def build_week(
    *,
    scope: FamilyScope,
    day: dt.date,
    commune_slug: str = "",
    child_ids: list[int] | None = None,
    service: str = "",
    site: str = "",
    now: dt.datetime | None = None,
) -> Week:
    """The family's week, all communes together (or one), for the children chosen, for one
    service or site if asked (by name: "Restauration scolaire" spans communes)."""
    now = now or timezone.now()
    start = week_start(day)
    end = start + dt.timedelta(days=6)
    communes = [c for c in scope.communes if not commune_slug or c.slug == commune_slug]
    children = [c for c in scope.children if not child_ids or c.pk in child_ids]
    data = read_family_reservations(
        communes=communes,
        family_ids=scope.family_ids,
        child_ids=[c.pk for c in children],
        start=start,
        end=end,
    )
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
    return _merge_enrolment_rows(rows)


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
    start_time = _start_time(prestation)
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
        elif booking["status"] == "confirmed" and day >= today:
            rule = _rule(prestation["cancellation_rule"])
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
                cell.note = _("délai d'annulation dépassé")
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
    rule = _rule(prestation["booking_rule"])
    if rule.is_open(day, now=now, tz=tz, start_time=start_time):
        deadline = rule.deadline_for(day, tz=tz, start_time=start_time)
        note = (
            _("modifiable jusqu'au %(deadline)s") % {"deadline": format_deadline(deadline, tz=tz)}
            if deadline
            else ""
        )
        return Cell(day, "available", _("Non réservé"), note=note, can_book=True)
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


# --- Carts of all communes -----------------------------------------------------------------------

_CART_PART = """
SELECT %s::text, coalesce(json_agg(json_build_object(
    'id', i.id, 'child_id', i.child_id, 'date', i.date, 'site', si.name,
    'prestation', p.label, 'billing_mode', p.billing_mode, 'base_price', p.base_price, 'late_price', p.late_price,
    'booking_rule', p.booking_rule, 'start_time', p.start_time,
    'brackets', (SELECT coalesce(json_agg(json_build_array(b.qf_min, b.qf_max, b.price)), '[]')
                 FROM {s}.reservations_pricebracket b WHERE b.prestation_id = p.id),
    'quotient', (SELECT q.value FROM {s}.reservations_quotientfamilial q
                 WHERE q.family_id = ct.family_id AND q.valid_from <= i.date ORDER BY q.valid_from DESC LIMIT 1)
  ) ORDER BY i.date, p.label), '[]')
FROM {s}.reservations_cartitem i
JOIN {s}.reservations_cart ct ON ct.id = i.cart_id
JOIN {s}.reservations_prestation p ON p.id = i.prestation_id
JOIN {s}.reservations_site si ON si.id = i.site_id
WHERE ct.family_id = ANY(%s) AND ct.status = 'open'
"""


@dataclass
class CartLine:
    id: int
    child: Child
    date: dt.date
    prestation: str
    site: str
    price: Decimal
    late: bool
    prepaid: bool


@dataclass
class CommuneCart:
    commune: Commune
    lines: list[CartLine]

    @property
    def total(self) -> Decimal:
        return sum((line.price for line in self.lines), Decimal("0.00"))

    @property
    def prepaid_total(self) -> Decimal:
        return sum((line.price for line in self.lines if line.prepaid), Decimal("0.00"))

    @property
    def late_total(self) -> Decimal:
        return sum((line.price for line in self.lines if line.late), Decimal("0.00"))


def list_family_carts(*, scope: FamilyScope, now: dt.datetime | None = None) -> list[CommuneCart]:
    """The open carts of every commune of the family, priced, in one query."""
    now = now or timezone.now()
    if not scope.communes:
        return []
    sql, params = union_over_schemas(_CART_PART, [c.schema_name for c in scope.communes], scope.family_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    communes = {c.schema_name: c for c in scope.communes}
    children = {c.pk: c for c in scope.children}
    carts = []
    for schema_name, items in rows:
        items = items if isinstance(items, list) else json.loads(items)
        if not items:
            continue
        commune = communes[schema_name]
        tz = ZoneInfo(commune.timezone)
        lines = []
        for item in items:
            day = dt.date.fromisoformat(item["date"])
            late = not _rule(item["booking_rule"]).is_open(day, now=now, tz=tz, start_time=_start_time(item))
            price = price_for(
                base_price=Decimal(str(item["base_price"])),
                brackets=[(lo, hi, Decimal(str(p))) for lo, hi, p in item["brackets"]],
                quotient=item["quotient"],
                late_price=Decimal(str(item["late_price"])) if item["late_price"] is not None else None,
                late=late,
            )
            lines.append(
                CartLine(
                    item["id"],
                    children.get(item["child_id"]),
                    day,
                    item["prestation"],
                    item["site"],
                    price,
                    late,
                    item["billing_mode"] == "prepaid",
                )
            )
        carts.append(CommuneCart(commune, lines))
    carts.sort(key=lambda cart: cart.commune.name)
    return carts
