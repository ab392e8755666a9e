"""A booking's state and its place: taking and freeing places (a conditional update on the
slot), cancelling with a credit, holds of prepaid carts (confirmed when paid, kept for a
retry when a payment fails, released when they expire)."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from shared_identity.models import Account
from tenants.tasks import enqueue_on_commit

from ..models import (
    Booking,
    BookingCredit,
    Cart,
    Prestation,
    Slot,
)

_TAKE_PLACE = """
    INSERT INTO reservations_slot (prestation_id, site_id, date, taken)
    SELECT %(prestation)s, %(site)s, %(day)s, 1 WHERE %(capacity)s::integer IS NULL OR %(capacity)s::integer > 0
    ON CONFLICT (prestation_id, site_id, date) DO UPDATE SET taken = reservations_slot.taken + 1
    WHERE %(capacity)s::integer IS NULL OR reservations_slot.taken < %(capacity)s::integer
    RETURNING taken
"""


def take_place(
    prestation_id: int, site_id: int, day: dt.date, *, capacity: int | None, now: dt.datetime
) -> bool:
    """Take one place, never past ``capacity`` (None: no limit), in one statement: the slot row
    is created with the first place, or updated on the condition that a place is left. The
    conditional update runs on the locked row (``ON CONFLICT DO UPDATE … WHERE``), so two
    requests for the last place cannot both get it. ``capacity`` is the site's, read with the
    line (a change of capacity by an agent at that moment applies to the next booking)."""
    if _take(prestation_id, site_id, day, capacity):
        return True
    # Full: places held by carts whose payment delay ran out are free again.
    if _expire_holds(now=now, slot=(prestation_id, site_id, day)):
        return _take(prestation_id, site_id, day, capacity)
    return False


def _take(prestation_id: int, site_id: int, day: dt.date, capacity: int | None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            _TAKE_PLACE, {"prestation": prestation_id, "site": site_id, "day": day, "capacity": capacity}
        )
        return cursor.fetchone() is not None


def _free_place(booking: Booking) -> None:
    Slot.objects.filter(
        prestation_id=booking.prestation_id, site_id=booking.site_id, date=booking.date
    ).update(taken=F("taken") - 1)


def transition(booking: Booking, status: str) -> None:
    if status not in Booking.TRANSITIONS[booking.status]:
        raise FoyerError(
            "invalid_transition",
            _("Cette réservation est « %(status)s » : impossible de la passer à « %(new)s ».")
            % {"status": booking.get_status_display(), "new": Booking.Status(status).label},
            status=409,
        )
    booking.status = status


def expire_holds(*, now: dt.datetime | None = None) -> int:
    """Cancel the bookings of carts left unpaid past their delay and free their places."""
    with transaction.atomic():
        return _expire_holds(now=now or timezone.now())


def _expire_holds(*, now: dt.datetime, slot: tuple[int, int, dt.date] | None = None) -> int:
    held = Booking.objects.select_for_update(skip_locked=True).filter(
        status=Booking.Status.HELD, hold_expires_at__lte=now
    )
    if slot:
        held = held.filter(prestation_id=slot[0], site_id=slot[1], date=slot[2])
    expired = list(held)
    for booking in expired:
        transition(booking, Booking.Status.CANCELLED)
        booking.cancelled_at = now
        booking.cancel_reason = _("paiement non reçu dans le délai")
        booking.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        _free_place(booking)
    if expired:
        _tell_family_places_released(
            [booking.pk for booking in expired], _("paiement non reçu dans le délai")
        )
    cart_ids = {booking.cart_id for booking in expired if booking.cart_id}
    Cart.objects.filter(pk__in=cart_ids, status=Cart.Status.AWAITING_PAYMENT).exclude(
        bookings__status=Booking.Status.HELD
    ).update(status=Cart.Status.EXPIRED)
    return len(expired)


def confirm_paid_cart(
    *, cart_id: int, booking_ids: list[int] | None = None, now: dt.datetime | None = None
) -> list[Booking]:
    """The payment of a prepaid cart (or of the part of it one régie collects: ``booking_ids``)
    arrived: those held bookings are confirmed; the cart is done when none is held any more.

    Entry point for billing. Bookings whose hold already expired stay cancelled; the caller
    flags the payment for an agent (refund or re-booking)."""
    now = now or timezone.now()
    with transaction.atomic():
        cart = Cart.objects.select_for_update().get(pk=cart_id)
        held = cart.bookings.select_for_update().filter(status=Booking.Status.HELD)
        bookings = list(held if booking_ids is None else held.filter(pk__in=booking_ids))
        for booking in bookings:
            transition(booking, Booking.Status.CONFIRMED)
            booking.hold_expires_at = None
            booking.save(update_fields=["status", "hold_expires_at"])
        if (
            cart.status == Cart.Status.AWAITING_PAYMENT
            and not held.exclude(pk__in=[b.pk for b in bookings]).exists()
        ):
            cart.status = Cart.Status.VALIDATED
            cart.save(update_fields=["status"])
    return bookings


def cancel_and_free(
    booking: Booking, *, actor: Account | None, reason: str, now: dt.datetime, credit: bool
) -> None:
    was_confirmed = booking.status == Booking.Status.CONFIRMED
    transition(booking, Booking.Status.CANCELLED)
    booking.cancelled_at = now
    booking.cancelled_by = actor
    booking.cancel_reason = reason
    booking.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
    _free_place(booking)
    if credit and was_confirmed and booking.prestation.billing_mode == Prestation.BillingMode.PREPAID:
        record_credit(booking=booking, reason=reason)


def record_credit(*, booking: Booking, reason: str) -> BookingCredit | None:
    """Owe a family the price of a paid booking. The billing run turns credits into credit notes."""
    if booking.price <= 0:
        return None
    credit, _created = BookingCredit.objects.get_or_create(
        booking=booking, defaults={"family_id": booking.family_id, "amount": booking.price, "reason": reason}
    )
    return credit


def _tell_family_places_released(booking_ids: list[int], reason: str) -> None:
    from ..tasks import notify_places_released

    enqueue_on_commit(
        notify_places_released, schema_name=connection.schema_name, booking_ids=booking_ids, reason=reason
    )
