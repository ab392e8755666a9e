"""The family's bookings as an iCalendar feed (RFC 5545), from the family router."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

from shared_identity.models import Child, Family, Membership

from .router import read_family_reservations

LABELS = {
    "held": "à payer",
    "confirmed": "réservé",
    "attended": "présent",
    "absent": "absent",
    "absent_justified": "absence justifiée",
}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets are folded (RFC 5545 §3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return [line]
    parts, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return [parts[0]] + [" " + part for part in parts[1:]]


def family_calendar(*, family: Family, start: dt.date, end: dt.date) -> str:
    communes = [
        m.commune
        for m in Membership.objects.filter(family=family, status=Membership.Status.ACTIVE).select_related(
            "commune"
        )
    ]
    children = {c.pk: c for c in Child.objects.filter(family=family)}
    data = read_family_reservations(
        communes=communes, family_ids=[family.pk], child_ids=list(children), start=start, end=end
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Foyer//Reservations//FR",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Foyer — réservations",
    ]
    host = settings.FOYER_BASE_DOMAIN
    for commune_data in data:
        tz = ZoneInfo(commune_data.commune.timezone)
        prestations = {p["id"]: p for p in commune_data.prestations}
        for booking in sorted(commune_data.bookings, key=lambda b: (b["date"], b["id"])):
            prestation = prestations.get(booking["prestation_id"], {"label": "?", "start_time": None})
            child = children.get(booking["child_id"])
            summary = f"{child.first_name if child else ''} — {prestation['label']} ({LABELS.get(booking['status'], '')})"
            lines += [
                "BEGIN:VEVENT",
                f"UID:{commune_data.commune.schema_name}-booking-{booking['id']}@{host}",
                f"DTSTAMP:{stamp}",
            ]
            if prestation.get("start_time"):
                begins = dt.datetime.combine(
                    booking["date"], dt.time.fromisoformat(prestation["start_time"]), tz
                )
                ends = begins + dt.timedelta(hours=1)
                lines += [
                    f"DTSTART:{begins.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
                    f"DTEND:{ends.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
                ]
            else:
                lines += [
                    f"DTSTART;VALUE=DATE:{booking['date']:%Y%m%d}",
                    f"DTEND;VALUE=DATE:{booking['date'] + dt.timedelta(days=1):%Y%m%d}",
                ]
            lines += [
                f"SUMMARY:{_escape(summary)}",
                f"LOCATION:{_escape(commune_data.commune.name)}",
                "END:VEVENT",
            ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(folded for line in lines for folded in _fold(line)) + "\r\n"
