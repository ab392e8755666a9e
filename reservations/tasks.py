"""Reservation tasks: each runs in its commune's schema (TenantTask)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from foyer.celery import app
from shared_identity import notifications
from shared_identity.models import Account
from tenants.tasks import TenantTask, send_to_every_commune

from .models import Booking, CancellationRequest, Enrolment, Prestation


@app.task(base=TenantTask)
def notify_cancellation_decision(*, request_id: int) -> None:
    request = CancellationRequest.objects.select_related("booking__prestation", "booking__child").get(
        pk=request_id
    )
    notifications.notify_families(
        family_ids=[request.family_id],
        kind="request",
        template="cancellation_decision",
        context={"request": request},
    )


@app.task(base=TenantTask)
def notify_mass_cancellation(*, booking_ids: list[int], reason: str) -> None:
    bookings = Booking.objects.select_related("prestation", "child", "site").filter(pk__in=booking_ids)
    by_family: dict[int, list[Booking]] = defaultdict(list)
    for booking in bookings:
        by_family[booking.family_id].append(booking)
    notifications.notify_families(
        family_ids=by_family,
        kind=None,
        template="mass_cancellation",
        context=lambda family_id: {"bookings": by_family[family_id], "reason": reason},
    )


@app.task(base=TenantTask)
def notify_places_released(*, booking_ids: list[int], reason: str) -> None:
    """A prepaid cart was not paid (failed, abandoned, too late): its places are free again."""
    bookings = Booking.objects.select_related("prestation", "child").filter(pk__in=booking_ids)
    by_family: dict[int, list[Booking]] = defaultdict(list)
    for booking in bookings:
        by_family[booking.family_id].append(booking)
    notifications.notify_families(
        family_ids=by_family,
        kind=None,
        template="places_released",
        context=lambda family_id: {"bookings": by_family[family_id], "reason": reason},
    )


@app.task(base=TenantTask)
def expire_holds() -> int:
    from .services import expire_holds as expire

    return expire()


@app.task
def expire_holds_everywhere() -> None:
    """Beat: release unpaid holds in every commune (one task per commune)."""
    send_to_every_commune(expire_holds)


@app.task(base=TenantTask)
def send_booking_reminders(*, now: str | None = None) -> int:
    """E-mail the families who asked for it the day before a booking deadline for next week
    closes ("la veille"). Returns the number of e-mails sent."""
    from .deadlines import format_deadline, rule_from

    commune = connection.tenant
    tz = ZoneInfo(commune.timezone)
    now_dt = dt.datetime.fromisoformat(now) if now else timezone.now()
    today = now_dt.astimezone(tz).date()
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    days = [next_monday + dt.timedelta(days=offset) for offset in range(7)]
    closing: dict[int, list[tuple[Prestation, str]]] = defaultdict(list)
    for prestation in Prestation.objects.filter(is_active=True).select_related("service"):
        rule = rule_from(prestation.booking_rule)
        start_time = prestation.start_time or dt.time(0, 0)
        deadlines = [
            rule.deadline_for(day, tz=tz, start_time=start_time)
            for day in days
            if day.weekday() in prestation.weekdays
        ]
        tomorrow = today + dt.timedelta(days=1)
        soonest = min((d for d in deadlines if d and d.astimezone(tz).date() == tomorrow), default=None)
        if soonest:
            closing[prestation.service_id].append((prestation, format_deadline(soonest, tz=tz)))
    if not closing:
        return 0
    enrolled = Enrolment.objects.filter(
        service_id__in=closing, start__lte=days[-1], end__gte=days[0]
    ).values_list("family_id", "service_id")
    services_by_family: dict[int, set[int]] = defaultdict(set)
    for family_id, service_id in enrolled:
        services_by_family[family_id].add(service_id)
    accounts = Account.objects.filter(
        remind_booking_deadlines=True, guardianships__family_id__in=services_by_family
    ).values_list("email", "guardianships__family_id")
    sent = 0
    for email, family_id in accounts:
        items = [item for service_id in services_by_family[family_id] for item in closing[service_id]]
        notifications.send("booking_reminder", {"items": items, "week_start": next_monday}, to=[email])
        sent += 1
    return sent


@app.task
def send_booking_reminders_everywhere() -> None:
    send_to_every_commune(send_booking_reminders)
