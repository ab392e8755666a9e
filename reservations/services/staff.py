"""The commune's side: enrolments, attendance, and the cancellation of a whole day."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError
from shared_identity.models import Account, Child
from tenants.tasks import enqueue_on_commit

from .. import audit_entries
from ..models import (
    Booking,
    BookingCredit,
    Closure,
    Enrolment,
    Prestation,
    Service,
    Site,
    Slot,
)
from .bookings import cancel_and_free, transition
from .checks import booking_price, commune_tz


def enrol_child(
    *, child: Child, service: Service, site: Site, start: dt.date, end: dt.date, actor: Account
) -> Enrolment:
    if end < start:
        raise FoyerError(
            "invalid",
            _("La fin de l'inscription précède son début."),
            extra={"fields": {"end": [_("Date de fin avant la date de début.")]}},
        )
    if not site.services.filter(pk=service.pk).exists():
        raise FoyerError(
            "invalid",
            _("Ce site ne propose pas ce service."),
            extra={"fields": {"site": [_("Choisissez un site de ce service.")]}},
        )
    already = FoyerError("invalid", _("L'enfant est déjà inscrit à ce service sur ce site pour ces dates."))
    with transaction.atomic(durable=True):
        # Serialise enrolments of one child, so that two identical requests make one.
        Child.objects.select_for_update().filter(pk=child.pk).first()
        if Enrolment.objects.filter(
            child=child, service=service, site=site, start__lte=end, end__gte=start
        ).exists():
            raise already
        return Enrolment.objects.create(
            child=child, family_id=child.family_id, service=service, site=site, start=start, end=end
        )


def mark_attendance(
    *,
    prestation: Prestation,
    site: Site,
    day: dt.date,
    child: Child,
    status: str,
    actor: Account,
    now: dt.datetime | None = None,
) -> Booking:
    """Pointage: present, absent or justified absence, for today or a past day (never a day to
    come: the family could no longer cancel it, and invoicing would bill it). A child present
    without a booking is recorded (billed at the "présence sans réservation" price)."""
    if status not in (Booking.Status.ATTENDED, Booking.Status.ABSENT, Booking.Status.ABSENT_JUSTIFIED):
        raise FoyerError("invalid", _("Statut de présence inconnu."))
    now = now or timezone.now()
    if day > now.astimezone(commune_tz()).date():
        raise FoyerError(
            "future_day",
            _("Le pointage d'un jour à venir est impossible : pointez le jour même ou après."),
            extra={"fields": {"jour": [_("Choisissez aujourd'hui ou un jour passé.")]}},
        )
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update()
            .filter(child=child, prestation=prestation, date=day)
            .exclude(status=Booking.Status.CANCELLED)
            .first()
        )
        if booking is None:
            if status != Booking.Status.ATTENDED:
                raise FoyerError(
                    "not_booked", _("Cet enfant n'était pas réservé : rien à pointer comme absent.")
                )
            _take_place_forced(prestation, site, day)
            price = prestation.unbooked_presence_price
            booking = Booking.objects.create(
                child=child,
                family_id=child.family_id,
                prestation=prestation,
                site=site,
                date=day,
                status=Booking.Status.ATTENDED,
                unbooked=True,
                price=price
                if price is not None
                else booking_price(family=child.family, prestation=prestation, day=day, late=False),
                created_by=actor,
                attendance_marked_at=now,
                attendance_marked_by=actor,
            )
            return booking
        if booking.status != status:
            transition(booking, status)
        booking.attendance_marked_at = now
        booking.attendance_marked_by = actor
        booking.save(update_fields=["status", "attendance_marked_at", "attendance_marked_by"])
    return booking


def _take_place_forced(prestation: Prestation, site: Site, day: dt.date) -> None:
    # The child is there: count them, even past the capacity.
    Slot.objects.bulk_create([Slot(prestation=prestation, site=site, date=day)], ignore_conflicts=True)
    Slot.objects.filter(prestation=prestation, site=site, date=day).update(taken=F("taken") + 1)


def mass_cancel(
    *, site: Site, day: dt.date, reason: str, actor: Account, prestation: Prestation | None = None
) -> int:
    """Close a site for a day (strike, closure, outing): cancel its bookings, credit the paid
    ones, block new bookings, and tell each family by e-mail."""
    reason = reason.strip()
    if len(reason) > Closure._meta.get_field("reason").max_length:
        raise FoyerError(
            "invalid",
            _("Le motif est trop long."),
            extra={"fields": {"reason": [_("200 caractères au plus.")]}},
        )
    if not reason:
        raise FoyerError(
            "invalid",
            _("Indiquez le motif : il est envoyé aux familles."),
            extra={"fields": {"reason": [_("Ce champ est obligatoire.")]}},
        )
    now = timezone.now()
    with transaction.atomic(durable=True):
        audit.mute(Booking, BookingCredit)  # one entry for the operation, below
        bookings = (
            Booking.objects.select_for_update()
            .select_related("prestation")
            .filter(site=site, date=day, status__in=(Booking.Status.HELD, Booking.Status.CONFIRMED))
        )
        if prestation is not None:
            bookings = bookings.filter(prestation=prestation)
        bookings = list(bookings)
        for booking in bookings:
            cancel_and_free(booking, actor=actor, reason=reason, now=now, credit=True)
        if prestation is None:
            Closure.objects.get_or_create(date=day, site=site, defaults={"reason": reason})
        audit_entries.record_mass_cancellation(
            site=site, day=day, prestation=prestation, reason=reason, bookings=bookings
        )
        family_ids = sorted({booking.family_id for booking in bookings})
        if family_ids:
            from ..tasks import notify_mass_cancellation

            enqueue_on_commit(
                notify_mass_cancellation,
                schema_name=connection.schema_name,
                booking_ids=[booking.pk for booking in bookings],
                reason=reason,
            )
    return len(bookings)
