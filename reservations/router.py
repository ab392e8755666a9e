"""The family router: one SQL round trip reads a family's reservation data in every commune
it belongs to (a UNION ALL over the communes' schemas), whatever their number."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection

from tenants.models import Commune
from tenants.schemas import union_over_schemas

# One commune's part; {s} is the quoted schema. Parameters, in order: schema name, child ids
# (x1), week end, week start, family ids (bookings), start, end, start, end (closures),
# end, start (holidays), family ids (cart), start, end (full slots), family ids (requests).
_PART = """
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
        'prestation_id', i.prestation_id, 'site_id', i.site_id, 'date', i.date)), '[]')
      FROM {s}.reservations_cartitem i JOIN {s}.reservations_cart ct ON ct.id = i.cart_id
      WHERE ct.family_id = ANY(%s) AND ct.status = 'open'),
  'full', (SELECT coalesce(json_agg(json_build_object('prestation_id', sl.prestation_id,
        'site_id', sl.site_id, 'date', sl.date)), '[]')
      FROM {s}.reservations_slot sl JOIN {s}.reservations_prestationsite o
        ON o.prestation_id = sl.prestation_id AND o.site_id = sl.site_id
      WHERE o.capacity IS NOT NULL AND sl.taken >= o.capacity AND sl.date BETWEEN %s AND %s),
  'pending_requests', (SELECT coalesce(json_agg(r.booking_id), '[]')
      FROM {s}.reservations_cancellationrequest r WHERE r.family_id = ANY(%s) AND r.status = 'pending')
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


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def read_family_reservations(
    *, communes: list[Commune], family_ids: list[int], child_ids: list[int], start: dt.date, end: dt.date
) -> list[CommuneData]:
    """Everything the week view needs, for every commune of the family, in one query."""
    if not communes or not child_ids:
        return []
    sql, params = union_over_schemas(
        _PART,
        [c.schema_name for c in communes],
        *(
            child_ids,
            end,
            start,
            family_ids,
            start,
            end,
            start,
            end,
            end,
            start,
            family_ids,
            start,
            end,
            family_ids,
        ),
    )
    by_schema = {commune.schema_name: commune for commune in communes}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for schema_name, payload in rows:
        data = payload if isinstance(payload, dict) else json.loads(payload)
        for key in ("bookings", "closures", "cart", "full"):
            for row in data[key]:
                row["date"] = _date(row["date"])
        for row in data["enrolments"]:
            row["start"], row["end"] = _date(row["start"]), _date(row["end"])
        for row in data["holidays"]:
            row["start"], row["end"] = _date(row["start"]), _date(row["end"])
        result.append(CommuneData(commune=by_schema[schema_name], **data))
    result.sort(key=lambda item: item.commune.name)
    return result
