"""What reservations contribute to the family's unified views (assembled by family.router):
the SQL of one commune's part — ``{s}`` is the commune's quoted schema, the first column its
name — and how to read a row of it.

* the week: the family's enrolments, bookings, cart, the full slots and pending cancellation
  requests of one commune (FAMILY_WEEK_PART), and the commune's catalogue (CATALOGUE_PART:
  services, prestations, sites, closures, holidays), one row per record;
* the open carts, priced (CART_PART);
* the carts validated and awaiting payment, whose places are held (HELD_PART);
* the family's cancellation requests, with the commune's decision (CANCELLATIONS_PART)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared_identity.models import Child
from tenants.models import Commune

from .deadlines import format_deadline, rule_from
from .opening import price_for

# One commune's part of the week, in two parts of one row per record each (schema, kind, JSON
# payload), with one plain scan per table and no subquery, so that PostgreSQL plans and runs a few
# cheap legs per commune. The rows are put together per commune in Python (``commune_data``).
#
# FAMILY_WEEK_PART: what belongs to the family or changes with every booking (enrolments,
# bookings, the open cart, the week's slots, pending cancellation requests). Parameters after the
# schema name, in order: child ids, week end, week start (enrolments), family ids, start, end
# (bookings), family ids (cart), start, end (slots), family ids (pending cancellation requests).
FAMILY_WEEK_PART = """
SELECT %s::text, w.kind, w.payload FROM (
  SELECT 'enrolment' AS kind, json_build_object('child_id', e.child_id, 'service_id', e.service_id,
      'site_id', e.site_id, 'start', e.start, 'end', e."end") AS payload
    FROM {s}.reservations_enrolment e WHERE e.child_id = ANY(%s) AND e.start <= %s AND e."end" >= %s
  UNION ALL
  SELECT 'booking', json_build_object('id', b.id, 'child_id', b.child_id, 'prestation_id', b.prestation_id,
      'site_id', b.site_id, 'date', b.date, 'status', b.status, 'price', b.price, 'late', b.late,
      'hold_expires_at', b.hold_expires_at)
    FROM {s}.reservations_booking b
    WHERE b.family_id = ANY(%s) AND b.date BETWEEN %s AND %s AND b.status <> 'cancelled'
  UNION ALL
  SELECT 'cart', json_build_object('id', i.id, 'child_id', i.child_id, 'prestation_id', i.prestation_id,
      'site_id', i.site_id, 'date', i.date, 'action', i.action)
    FROM {s}.reservations_cartitem i JOIN {s}.reservations_cart ct ON ct.id = i.cart_id
    WHERE ct.family_id = ANY(%s) AND ct.status = 'open'
  UNION ALL
  SELECT 'slot', json_build_object('prestation_id', sl.prestation_id, 'site_id', sl.site_id, 'date', sl.date,
      'taken', sl.taken)
    FROM {s}.reservations_slot sl WHERE sl.date BETWEEN %s AND %s
  UNION ALL
  SELECT 'pending', json_build_array(r.booking_id, x.booking_id)
    FROM {s}.reservations_cancellationrequest r
    LEFT JOIN {s}.reservations_cancellationrequest_extra_bookings x ON x.cancellationrequest_id = r.id
    WHERE r.family_id = ANY(%s) AND r.status = 'pending'
) AS w
"""

# CATALOGUE_PART: what is the commune's and nobody's in particular (active services and
# prestations with their rules, the sites and places per site, the opening calendar: every
# closure and school holiday). The router reads it only for the communes whose catalogue is not
# in its cache (``catalogue_of``, cached under the commune's catalogue_version). No parameter
# after the schema name.
CATALOGUE_PART = """
SELECT %s::text, w.kind, w.payload FROM (
  SELECT 'prestation' AS kind, json_build_object('id', p.id, 'label', p.label, 'code', p.code,
      'colour', p.colour, 'billing_mode', p.billing_mode, 'weekdays', p.weekdays, 'period', p.period,
      'start_time', p.start_time, 'booking_rule', p.booking_rule, 'cancellation_rule', p.cancellation_rule,
      'service_id', p.service_id, 'base_price', p.base_price, 'late_price', p.late_price) AS payload
    FROM {s}.reservations_prestation p WHERE p.is_active
  UNION ALL
  SELECT 'service', json_build_object('id', sv.id, 'name', sv.name)
    FROM {s}.reservations_service sv WHERE sv.is_active
  UNION ALL
  SELECT 'offer', json_build_object('prestation_id', o.prestation_id, 'site_id', o.site_id, 'capacity', o.capacity)
    FROM {s}.reservations_prestationsite o
  UNION ALL
  SELECT 'site', json_build_object('id', si.id, 'name', si.name) FROM {s}.reservations_site si
  UNION ALL
  SELECT 'closure', json_build_object('date', c.date, 'site_id', c.site_id, 'reason', c.reason)
    FROM {s}.reservations_closure c
  UNION ALL
  SELECT 'holiday', json_build_object('start', h.start, 'end', h."end")
    FROM {s}.reservations_schoolholiday h
) AS w
"""

# The shape of what ``catalogue_of`` returns; part of the cache key, so that a change of shape
# never reads entries written by an older version of this code.
CATALOGUE_FORMAT = 1
CATALOGUE_KINDS = frozenset({"prestation", "service", "offer", "site", "closure", "holiday"})


def week_params(*, child_ids: list[int], family_ids: list[int], start: dt.date, end: dt.date) -> list:
    """FAMILY_WEEK_PART's parameters after the schema name."""
    return [child_ids, end, start, family_ids, start, end, family_ids, start, end, family_ids]


@dataclass
class CommuneData:
    commune: Commune
    enrolments: list[dict] = field(default_factory=list)
    prestations: list[dict] = field(default_factory=list)
    bookings: list[dict] = field(default_factory=list)
    closures: list[dict] = field(default_factory=list)
    holidays: list[dict] = field(default_factory=list)
    cart: list[dict] = field(default_factory=list)
    full: list[dict] = field(default_factory=list)
    pending_requests: list[int] = field(default_factory=list)


def start_time_of(prestation: dict) -> dt.time:
    """A prestation's start time, read from its JSON (midnight when it has none)."""
    return dt.time.fromisoformat(prestation["start_time"]) if prestation.get("start_time") else dt.time(0, 0)


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _by_kind(rows: list[tuple[str, object]]) -> dict[str, list]:
    by_kind: dict[str, list] = {}
    for kind, payload in rows:
        by_kind.setdefault(kind, []).append(
            payload if isinstance(payload, dict | list) else json.loads(payload)
        )
    return by_kind


def catalogue_of(rows: list[tuple[str, object]]) -> dict:
    """A commune's rows of CATALOGUE_PART, (kind, payload) each, as the week reads them: the
    active prestations of active services with their sites (ordered by service then label), the
    sites' names, the places per prestation and site, every closure and school holiday. Plain
    data (dicts, lists, dates), so that it can be cached."""
    by_kind = _by_kind(rows)
    services = {service["id"]: service["name"] for service in by_kind.get("service", [])}
    offers: dict[int, list[int]] = {}
    capacities = {}
    for offer in by_kind.get("offer", []):
        offers.setdefault(offer["prestation_id"], []).append(offer["site_id"])
        if offer["capacity"] is not None:
            capacities[(offer["prestation_id"], offer["site_id"])] = offer["capacity"]
    prestations = []
    for prestation in by_kind.get("prestation", []):
        if prestation["service_id"] in services:
            prestation["service"] = services[prestation["service_id"]]
            prestation["sites"] = sorted(offers.get(prestation["id"], []))
            prestations.append(prestation)
    prestations.sort(key=lambda p: (p["service"], p["label"], p["id"]))
    closures = by_kind.get("closure", [])
    for row in closures:
        row["date"] = _date(row["date"])
    holidays = by_kind.get("holiday", [])
    for row in holidays:
        row["start"], row["end"] = _date(row["start"]), _date(row["end"])
    return {
        "sites": {site["id"]: site["name"] for site in by_kind.get("site", [])},
        "prestations": prestations,
        "capacities": capacities,
        "closures": sorted(closures, key=lambda c: (c["date"], c["site_id"] or 0)),
        "holidays": sorted(holidays, key=lambda h: h["start"]),
    }


def commune_data(
    commune: Commune, catalogue: dict, rows: list[tuple[str, object]], *, start: dt.date, end: dt.date
) -> CommuneData:
    """A commune's rows of FAMILY_WEEK_PART, (kind, payload) each, with its catalogue
    (``catalogue_of``), put together as the week from ``start`` to ``end`` reads them: each
    enrolment with its site's name, the closures and holidays of those days, the places full."""
    by_kind = _by_kind(rows)
    sites = catalogue["sites"]
    enrolments = []
    for row in by_kind.get("enrolment", []):
        if row["site_id"] in sites:
            row["site"] = sites[row["site_id"]]
            row["start"], row["end"] = _date(row["start"]), _date(row["end"])
            enrolments.append(row)
    enrolments.sort(key=lambda e: (e["child_id"], e["service_id"]))
    for key in ("booking", "cart", "slot"):
        for row in by_kind.get(key, []):
            row["date"] = _date(row["date"])
    capacities = catalogue["capacities"]
    full = [
        {"prestation_id": slot["prestation_id"], "site_id": slot["site_id"], "date": slot["date"]}
        for slot in by_kind.get("slot", [])
        if (capacity := capacities.get((slot["prestation_id"], slot["site_id"]))) is not None
        and slot["taken"] >= capacity
    ]
    pending = {
        booking_id for pair in by_kind.get("pending", []) for booking_id in pair if booking_id is not None
    }
    return CommuneData(
        commune=commune,
        enrolments=enrolments,
        prestations=catalogue["prestations"],
        bookings=by_kind.get("booking", []),
        closures=[c for c in catalogue["closures"] if start <= c["date"] <= end],
        holidays=[h for h in catalogue["holidays"] if h["start"] <= end and h["end"] >= start],
        cart=by_kind.get("cart", []),
        full=full,
        pending_requests=sorted(pending),
    )


# --- The open carts, priced --------------------------------------------------------------------

CART_PART = """
SELECT %s::text, coalesce(json_agg(json_build_object(
    'id', i.id, 'child_id', i.child_id, 'date', i.date, 'site', si.name,
    'prestation', p.label, 'billing_mode', p.billing_mode, 'base_price', p.base_price, 'late_price', p.late_price,
    'booking_rule', p.booking_rule, 'cancellation_rule', p.cancellation_rule, 'start_time', p.start_time,
    'action', i.action,
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
    # An absence to signal (CartItem.Action.CANCEL): ``late`` then means past the cancellation
    # deadline (a request to the commune); its price is not counted.
    absence: bool = False


@dataclass
class CommuneCart:
    commune: Commune
    lines: list[CartLine]

    @property
    def bookings(self) -> list[CartLine]:
        return [line for line in self.lines if not line.absence]

    @property
    def absences(self) -> list[CartLine]:
        return [line for line in self.lines if line.absence]

    @property
    def total(self) -> Decimal:
        return sum((line.price for line in self.bookings), Decimal("0.00"))

    @property
    def prepaid_total(self) -> Decimal:
        return sum((line.price for line in self.bookings if line.prepaid), Decimal("0.00"))

    @property
    def late_total(self) -> Decimal:
        return sum((line.price for line in self.bookings if line.late), Decimal("0.00"))

    @property
    def absences_to_request(self) -> list[CartLine]:
        return [line for line in self.absences if line.late]


def commune_cart(commune: Commune, items, *, children: dict[int, Child], now: dt.datetime) -> CommuneCart:
    """One row of CART_PART, priced at ``now`` (a line past its booking deadline takes the late
    price); ``children`` by id, from the family scope."""
    items = items if isinstance(items, list) else json.loads(items)
    tz = ZoneInfo(commune.timezone)
    lines = []
    for item in items:
        day = dt.date.fromisoformat(item["date"])
        absence = item["action"] == "cancel"
        rule = item["cancellation_rule"] if absence else item["booking_rule"]
        late = not rule_from(rule).is_open(day, now=now, tz=tz, start_time=start_time_of(item))
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
                absence,
            )
        )
    return CommuneCart(commune, lines)


# --- Carts awaiting payment ------------------------------------------------------------------------

# Parameters after the schema name: family ids.
HELD_PART = """
SELECT %s::text, c.id, count(b.id), coalesce(sum(b.price), 0), min(b.hold_expires_at), min(b.date),
       EXISTS (SELECT 1 FROM {s}.billing_paymentattempt a
               WHERE a.cart_id = c.id AND a.status IN ('failed', 'canceled', 'expired'))
FROM {s}.reservations_cart c
JOIN {s}.reservations_booking b ON b.cart_id = c.id AND b.status = 'held'
WHERE c.family_id = ANY(%s) AND c.status = 'awaiting_payment'
GROUP BY c.id
"""


@dataclass
class HeldCart:
    """A prepaid cart validated but not paid yet: its places are held until ``expires_at``."""

    commune: Commune
    id: int
    places: int
    amount: Decimal
    expires_at: dt.datetime | None
    first_day: dt.date
    # A payment was tried and did not go through: the places are still held, "Réessayer".
    payment_failed: bool = False

    @property
    def expires_label(self) -> str:
        """ "lundi 7 décembre à 18h30", in the commune's time."""
        if self.expires_at is None:
            return ""
        return format_deadline(self.expires_at, tz=ZoneInfo(self.commune.timezone))


# --- Cancellation requests -------------------------------------------------------------------------

# Parameters after the schema name: family ids. Ordered by the router: newest first.
CANCELLATIONS_PART = """
SELECT %s::text, r.id, r.status, r.reason, r.comment, r.credit, r.created_at, r.decided_at,
       r.attachment <> '', b.id, b.date, b.child_id, p.label, p.billing_mode,
       (SELECT count(*) FROM {s}.reservations_cancellationrequest_extra_bookings x
        WHERE x.cancellationrequest_id = r.id)
FROM {s}.reservations_cancellationrequest r
JOIN {s}.reservations_booking b ON b.id = r.booking_id
JOIN {s}.reservations_prestation p ON p.id = b.prestation_id
WHERE r.family_id = ANY(%s)
"""


@dataclass
class FamilyCancellation:
    """A cancellation request as the family follows it in "Mes demandes"."""

    commune: Commune
    id: int
    status: str
    reason: str
    comment: str
    credit: bool
    created_at: dt.datetime
    decided_at: dt.datetime | None
    has_certificate: bool
    booking_id: int
    date: dt.date
    child_id: int
    prestation: str
    billing_mode: str
    other_days: int = 0  # the other bookings the same request covers
    child: Child | None = None  # filled in by the router, from the family scope

    @property
    def status_label(self) -> str:
        from .models import CancellationRequest

        return CancellationRequest.Status(self.status).label
