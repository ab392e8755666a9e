"""The audit log's entries for reservation operations on many rows, written inside their
transaction (their rows are muted meanwhile)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import audit

from .models import BookingCredit


def record_mass_cancellation(*, site, day: dt.date, prestation, reason: str, bookings: list) -> None:
    """reservations.services.mass_cancel: one entry for all the bookings it cancelled (their
    rows are muted during the operation)."""
    if not audit.in_staff_scope():  # not a staff member's request: a task, a command
        return
    credited = BookingCredit.objects.filter(booking__in=[b.pk for b in bookings]).aggregate(
        count=models.Count("pk"), total=models.Sum("amount", default=Decimal("0.00"))
    )
    families = len({b.family_id for b in bookings})
    where = site.name if prestation is None else f"{site.name}, {prestation.label}"
    summary = _(
        "Annulation collective : %(where)s le %(day)s — %(bookings)s, %(families)s. Motif : %(reason)s"
    ) % {
        "where": where,
        "day": audit.day_label(day),
        "bookings": ngettext("%(n)d réservation annulée", "%(n)d réservations annulées", len(bookings))
        % {"n": len(bookings)},
        "families": ngettext("%(n)d famille prévenue", "%(n)d familles prévenues", families)
        % {"n": families},
        "reason": reason,
    }
    audit.record(
        action="booking.mass_cancel",
        object_type="site",
        object_id=site.pk,
        object_label=site.name,
        summary=summary,
        changes={
            "date": day.isoformat(),
            "site": audit.ref(site),
            **({"prestation": audit.ref(prestation)} if prestation is not None else {}),
            "reason": reason,
            "status": ["confirmed", "cancelled"],
            "bookings": sorted(b.pk for b in bookings),
            "families": families,
            "credits": credited["count"],
            "credit_total": str(credited["total"]),
        },
    )
