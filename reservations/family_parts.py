"""What reservations contribute to the family's unified views (assembled by family.router):
the SQL of one commune's part — ``{s}`` is the commune's quoted schema, the first column its
name — and how to read a row of it.

* the week: enrolments, prestations, bookings, closures, holidays, cart, full slots and
  pending cancellation requests of one commune, as one JSON payload (WEEK_PART);
* the open carts, priced (CART_PART);
* the carts validated and awaiting payment, whose places are held (HELD_PART);
* the family's cancellation requests, with the commune's decision (CANCELLATIONS_PART)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared_identity.models import Child
from tenants.models import Commune

from .deadlines import format_deadline, rule_from
from .opening import price_for

# Parameters after the schema name, in order: child ids
# (x1), week end, week start, family ids (bookings), start, end, start, end (closures),
# end, start (holidays), family ids (cart), start, end (full slots), family ids (requests, twice).
WEEK_PART = """
SELECT %s::text AS schema_name, json_build_object(
  'enrolments', (SELECT coalesce(json_agg(json_build_object(
        'child_id', e.child_id, 'service_id', e.service_id, 'site_id', e.site_id, 'site', si.name,
        'start', e.start, 'end', e."end") ORDER BY e.child_id, e.service_id), '[]')
      FROM {s}.reservations_enrolment e JOIN {s}.reservations_site si ON si.id = e.site_id
      WHERE e.child_id = ANY(%s) AND e.start <= %s AND e."end" >= %s),
  'prestations', (SELECT coalesce(json_agg(json_build_object(
        'id', p.id, 'label', p.label, 'code', p.code, 'colour', p.colour, 'billing_mode', p.billing_mode,
        'weekdays', p.weekdays, 'period', p.period, 'start_time', p.start_time,
        'booking_rule', p.booking_rule, 'cancellation_rule', p.cancellation_rule,
        'service_id', p.service_id, 'service', sv.name, 'base_price', p.base_price, 'late_price', p.late_price,
        'sites', (SELECT coalesce(json_agg(o.site_id), '[]') FROM {s}.reservations_prestationsite o
                  WHERE o.prestation_id = p.id)) ORDER BY sv.name, p.label), '[]')
      FROM {s}.reservations_prestation p JOIN {s}.reservations_service sv ON sv.id = p.service_id
      WHERE p.is_active AND sv.is_active),
  'bookings', (SELECT coalesce(json_agg(json_build_object(
        'id', b.id, 'child_id', b.child_id, 'prestation_id', b.prestation_id, 'site_id', b.site_id,
        'date', b.date, 'status', b.status, 'price', b.price, 'late', b.late,
        'hold_expires_at', b.hold_expires_at)), '[]')
      FROM {s}.reservations_booking b
      WHERE b.family_id = ANY(%s) AND b.date BETWEEN %s AND %s AND b.status <> 'cancelled'),
  'closures', (SELECT coalesce(json_agg(json_build_object('date', c.date, 'site_id', c.site_id,
        'reason', c.reason)), '[]')
      FROM {s}.reservations_closure c WHERE c.date BETWEEN %s AND %s),
  'holidays', (SELECT coalesce(json_agg(json_build_object('start', h.start, 'end', h."end")), '[]')
      FROM {s}.reservations_schoolholiday h WHERE h.start <= %s AND h."end" >= %s),
  'cart', (SELECT coalesce(json_agg(json_build_object('id', i.id, 'child_id', i.child_id,
        'prestation_id', i.prestation_id, 'site_id', i.site_id, 'date', i.date, 'action', i.action)), '[]')
      FROM {s}.reservations_cartitem i JOIN {s}.reservations_cart ct ON ct.id = i.cart_id
      WHERE ct.family_id = ANY(%s) AND ct.status = 'open'),
  'full', (SELECT coalesce(json_agg(json_build_object('prestation_id', sl.prestation_id,
        'site_id', sl.site_id, 'date', sl.date)), '[]')
      FROM {s}.reservations_slot sl JOIN {s}.reservations_prestationsite o
        ON o.prestation_id = sl.prestation_id AND o.site_id = sl.site_id
      WHERE o.capacity IS NOT NULL AND sl.taken >= o.capacity AND sl.date BETWEEN %s AND %s),
  'pending_requests', (SELECT coalesce(json_agg(pr.booking_id), '[]') FROM (
        SELECT r.booking_id FROM {s}.reservations_cancellationrequest r
        WHERE r.family_id = ANY(%s) AND r.status = 'pending'
        UNION ALL
        SELECT x.booking_id FROM {s}.reservations_cancellationrequest_extra_bookings x
        JOIN {s}.reservations_cancellationrequest r ON r.id = x.cancellationrequest_id
        WHERE r.family_id = ANY(%s) AND r.status = 'pending') AS pr)
) AS payload
"""


@dataclass
class CommuneData:
    commune: Commune
    enrolments: list[dict]
    prestations: list[dict]
    bookings: list[dict]
    closures: list[dict]
    holidays: list[dict]
    cart: list[dict]
    full: list[dict]
    pending_requests: list[int]


def start_time_of(prestation: dict) -> dt.time:
    """A prestation's start time, read from its JSON (midnight when it has none)."""
    return dt.time.fromisoformat(prestation["start_time"]) if prestation.get("start_time") else dt.time(0, 0)


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def commune_data(commune: Commune, payload) -> CommuneData:
    """One row of WEEK_PART, read."""
    data = payload if isinstance(payload, dict) else json.loads(payload)
    for key in ("bookings", "closures", "cart", "full"):
        for row in data[key]:
            row["date"] = _date(row["date"])
    for row in data["enrolments"]:
        row["start"], row["end"] = _date(row["start"]), _date(row["end"])
    for row in data["holidays"]:
        row["start"], row["end"] = _date(row["start"]), _date(row["end"])
    return CommuneData(commune=commune, **data)


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
