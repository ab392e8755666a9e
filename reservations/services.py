"""Writes on reservations: enrolments, the cart and its validation (capacity under
concurrency, holds for prepaid prestations), cancellations, cancellation requests,
attendance and mass cancellation. Each command is one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError, NotFound
from foyer.uploads import validate_attachment
from shared_identity.models import Account, Child, Family
from tenants.context import commune_context
from tenants.tasks import enqueue_on_commit

from . import audit_entries
from .deadlines import format_deadline, rule_from
from .models import (
    Booking,
    BookingCredit,
    CancellationRequest,
    Cart,
    CartItem,
    Closure,
    Enrolment,
    Prestation,
    PrestationSite,
    QuotientFamilial,
    SchoolHoliday,
    Service,
    Site,
    Slot,
)
from .opening import CommuneCalendar, closed_reason, price_for


def _commune():
    commune = connection.tenant
    if commune is None or commune.schema_name == "public":
        raise RuntimeError("Reservation services run in a commune's schema.")
    return commune


def _tz() -> ZoneInfo:
    return ZoneInfo(_commune().timezone)


# --- Checks shared by the cart and its validation --------------------------------------------------


@dataclass
class Refusal:
    child: str
    prestation: str
    date: dt.date
    reason: str


def _calendar(days: list[dt.date]) -> CommuneCalendar:
    start, end = min(days), max(days)
    return CommuneCalendar.build(
        Closure.objects.filter(date__range=(start, end)).values_list("date", "site_id", "reason"),
        SchoolHoliday.objects.filter(start__lte=end, end__gte=start).values_list("start", "end"),
    )


def _booking_refusal(
    *,
    child: Child,
    prestation: Prestation,
    site: Site,
    day: dt.date,
    now: dt.datetime,
    calendar: CommuneCalendar,
) -> tuple[str | None, bool]:
    """(why the booking is refused or None, whether it is late)."""
    if not prestation.is_active or not prestation.service.is_active:
        return _("cette prestation n'est plus proposée"), False
    if not PrestationSite.objects.filter(prestation=prestation, site=site).exists():
        return _("cette prestation n'est pas proposée sur ce site"), False
    if not Enrolment.objects.filter(
        child=child, service=prestation.service, site=site, start__lte=day, end__gte=day
    ).exists():
        return _("l'enfant n'est pas inscrit à ce service sur ce site à cette date"), False
    reason = closed_reason(
        weekdays=prestation.weekdays, period=prestation.period, site_id=site.pk, day=day, calendar=calendar
    )
    if reason:
        return reason, False
    if (
        Booking.objects.filter(child=child, prestation=prestation, date=day)
        .exclude(status="cancelled")
        .exists()
    ):
        return _("déjà réservé"), False
    start_time = prestation.start_time or dt.time(0, 0)
    tz = _tz()
    rule = rule_from(prestation.booking_rule)
    if day < now.astimezone(tz).date():
        return _("date passée"), False
    if not rule.is_open(day, now=now, tz=tz, start_time=start_time):
        if prestation.late_price is None:
            deadline = rule.deadline_for(day, tz=tz, start_time=start_time)
            return _("délai de réservation dépassé (c'était jusqu'au %(deadline)s)") % {
                "deadline": format_deadline(deadline, tz=tz)
            }, False
        return None, True
    return None, False


def _family_child(family: Family, child_id: int) -> Child:
    child = Child.objects.filter(pk=child_id, family=family).first()
    if child is None:
        raise NotFound(_("Cet enfant n'est pas dans votre famille."))
    return child


def _quotient(family: Family, day: dt.date) -> int | None:
    row = (
        QuotientFamilial.objects.filter(family=family, valid_from__lte=day)
        .order_by("-valid_from")
        .values_list("value", flat=True)
        .first()
    )
    return row


def booking_price(*, family: Family, prestation: Prestation, day: dt.date, late: bool) -> Decimal:
    return price_for(
        base_price=prestation.base_price,
        brackets=prestation.brackets.values_list("qf_min", "qf_max", "price"),
        quotient=_quotient(family, day),
        late_price=prestation.late_price,
        late=late,
    )


# --- The cart --------------------------------------------------------------------------------------


def add_to_cart(
    *,
    family: Family,
    account: Account,
    child_id: int,
    prestation_id: int,
    site_id: int,
    day: dt.date,
    now: dt.datetime | None = None,
) -> CartItem:
    """Put one booking in the family's cart of this commune, or refuse it with the reason."""
    now = now or timezone.now()
    child = _family_child(family, child_id)
    prestation = Prestation.objects.select_related("service").filter(pk=prestation_id).first()
    site = Site.objects.filter(pk=site_id).first()
    if prestation is None or site is None:
        raise NotFound(_("Cette prestation n'existe pas."))
    reason, _late = _booking_refusal(
        child=child, prestation=prestation, site=site, day=day, now=now, calendar=_calendar([day])
    )
    if reason:
        raise FoyerError("not_bookable", _("Réservation impossible : %(reason)s.") % {"reason": reason})
    with transaction.atomic():
        cart = _open_cart(family, account)
        item, _created = CartItem.objects.get_or_create(
            cart=cart,
            child=child,
            prestation=prestation,
            date=day,
            defaults={"site": site, "action": CartItem.Action.BOOK},
        )
    return item


@dataclass
class PatternResult:
    added: int
    refusals: list[Refusal]


MAX_PATTERN_DAYS = 366


def add_pattern_to_cart(
    *,
    children: list[Child],
    account: Account,
    prestation_id: int,
    weekdays: set[int],
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
) -> PatternResult:
    """ "Réserver en vue période": one weekly pattern from a date to another, for several
    children at once. What can be booked goes to the cart; the rest is listed with the reason."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if not children:
        errors["children"] = [_("Choisissez au moins un enfant.")]
    if not weekdays or not weekdays <= set(range(7)):
        errors["weekdays"] = [_("Choisissez au moins un jour de la semaine.")]
    if end < start:
        errors["end"] = [_("La date de fin précède la date de début.")]
    elif (end - start).days >= MAX_PATTERN_DAYS:
        errors["end"] = [_("Une période dure au plus un an.")]
    prestation = Prestation.objects.select_related("service").filter(pk=prestation_id).first()
    if prestation is None:
        errors["prestation"] = [_("Choisissez une prestation.")]
    if errors:
        raise FoyerError(
            "invalid", _("Rien n'a été ajouté : corrigez les erreurs."), extra={"fields": errors}
        )
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    days = [day for day in days if day.weekday() in weekdays]
    calendar = _calendar(days) if days else CommuneCalendar()
    refusals: list[Refusal] = []
    added = 0
    with transaction.atomic(durable=True):
        for child in children:
            enrolments = list(
                Enrolment.objects.filter(
                    child=child, service=prestation.service, start__lte=end, end__gte=start
                )
                .select_related("site")
                .order_by("start")
            )
            cart = _open_cart(child.family, account)
            for day in days:
                enrolment = next((e for e in enrolments if e.start <= day <= e.end), None)
                if enrolment is None:
                    refusals.append(Refusal(str(child), prestation.label, day, _("pas inscrit à cette date")))
                    continue
                if CartItem.objects.filter(cart=cart, child=child, prestation=prestation, date=day).exists():
                    continue
                reason, _late = _booking_refusal(
                    child=child,
                    prestation=prestation,
                    site=enrolment.site,
                    day=day,
                    now=now,
                    calendar=calendar,
                )
                if reason:
                    refusals.append(Refusal(str(child), prestation.label, day, reason))
                    continue
                CartItem.objects.create(
                    cart=cart,
                    child=child,
                    prestation=prestation,
                    site=enrolment.site,
                    date=day,
                    action=CartItem.Action.BOOK,
                )
                added += 1
    return PatternResult(added=added, refusals=refusals)


def _open_cart(family: Family, account: Account) -> Cart:
    cart = Cart.objects.filter(family=family, status=Cart.Status.OPEN).first()
    if cart is None:
        try:
            with transaction.atomic():
                cart = Cart.objects.create(family=family, account=account)
        except IntegrityError:
            cart = Cart.objects.get(family=family, status=Cart.Status.OPEN)
    return cart


def remove_from_cart(*, family_ids: list[int], item_id: int) -> None:
    deleted, _rows = CartItem.objects.filter(
        pk=item_id, cart__family_id__in=family_ids, cart__status=Cart.Status.OPEN
    ).delete()
    if not deleted:
        raise NotFound(_("Cet élément n'est plus dans votre panier."))


@dataclass
class CommuneCheckout:
    commune: object
    cart: Cart | None
    bookings: list[Booking] = field(default_factory=list)
    amount_due: Decimal = Decimal("0.00")


def validate_carts(
    *, communes: list, family_ids: list[int], account: Account, now: dt.datetime | None = None
) -> list[CommuneCheckout]:
    """ "Valider": apply the family's carts of all these communes at once, or none of them.

    Month-end prestations are confirmed; prepaid ones are held until paid (the commune's hold
    delay), and their cart awaits payment. Any refusal (deadline passed in the meantime,
    no place left) cancels the whole validation and says which lines to change."""
    now = now or timezone.now()
    results: list[CommuneCheckout] = []
    refusals: list[Refusal] = []
    with transaction.atomic(durable=True):
        for commune in communes:
            with commune_context(commune):
                carts = Cart.objects.select_for_update().filter(
                    family_id__in=family_ids, status=Cart.Status.OPEN
                )
                for cart in carts.order_by("pk"):
                    checkout = _validate_cart(
                        commune=commune, cart=cart, account=account, now=now, refusals=refusals
                    )
                    if checkout:
                        results.append(checkout)
        if refusals:
            transaction.set_rollback(True)
    if refusals:
        lines = [
            _("%(child)s, %(prestation)s le %(date)s : %(reason)s")
            % {
                "child": r.child,
                "prestation": r.prestation,
                "date": r.date.strftime("%d/%m/%Y"),
                "reason": r.reason,
            }
            for r in refusals
        ]
        raise FoyerError(
            "cart_refused",
            _("Rien n'a été réservé : retirez ou corrigez ces lignes du panier."),
            status=409,
            extra={"lines": lines},
        )
    if not results:
        raise FoyerError("cart_empty", _("Votre panier est vide."))
    return results


def _validate_cart(*, commune, cart: Cart, account, now, refusals: list[Refusal]) -> CommuneCheckout | None:
    items = list(cart.items.select_related("child", "prestation__service", "site").order_by("date", "pk"))
    if not items:
        return None
    family = cart.family
    calendar = _calendar([item.date for item in items])
    checkout = CommuneCheckout(commune=commune, cart=cart)
    hold_until = now + dt.timedelta(minutes=commune.booking_hold_minutes)
    for item in items:
        reason, late = _booking_refusal(
            child=item.child,
            prestation=item.prestation,
            site=item.site,
            day=item.date,
            now=now,
            calendar=calendar,
        )
        if reason:
            refusals.append(Refusal(str(item.child), item.prestation.label, item.date, reason))
            continue
        prepaid = item.prestation.billing_mode == Prestation.BillingMode.PREPAID
        try:
            with transaction.atomic():
                if not _take_place(item.prestation, item.site, item.date, now=now):
                    refusals.append(
                        Refusal(
                            str(item.child), item.prestation.label, item.date, _("plus de place disponible")
                        )
                    )
                    continue
                booking = Booking.objects.create(
                    child=item.child,
                    family=family,
                    prestation=item.prestation,
                    site=item.site,
                    date=item.date,
                    status=Booking.Status.HELD if prepaid else Booking.Status.CONFIRMED,
                    cart=cart,
                    hold_expires_at=hold_until if prepaid else None,
                    price=booking_price(family=family, prestation=item.prestation, day=item.date, late=late),
                    late=late,
                    created_by=account,
                )
        except IntegrityError:
            # The same child was booked for that day by another request a moment ago.
            refusals.append(Refusal(str(item.child), item.prestation.label, item.date, _("déjà réservé")))
            continue
        checkout.bookings.append(booking)
        if prepaid:
            checkout.amount_due += booking.price
    if checkout.amount_due:
        cart.status = Cart.Status.AWAITING_PAYMENT
        cart.hold_expires_at = hold_until
    else:
        cart.status = Cart.Status.VALIDATED
    cart.validated_at = now
    cart.save(update_fields=["status", "hold_expires_at", "validated_at"])
    return checkout


# --- Places ----------------------------------------------------------------------------------------


def _take_place(prestation: Prestation, site: Site, day: dt.date, *, now: dt.datetime) -> bool:
    """Take one place, never past the capacity: a conditional UPDATE on the slot row."""
    capacity = (
        PrestationSite.objects.filter(prestation=prestation, site=site)
        .values_list("capacity", flat=True)
        .first()
    )
    Slot.objects.bulk_create([Slot(prestation=prestation, site=site, date=day)], ignore_conflicts=True)
    slots = Slot.objects.filter(prestation=prestation, site=site, date=day)
    if capacity is None:
        slots.update(taken=F("taken") + 1)
        return True
    if slots.filter(taken__lt=capacity).update(taken=F("taken") + 1):
        return True
    # Full: places held by carts whose payment delay ran out are free again.
    if _expire_holds(now=now, slot=(prestation.pk, site.pk, day)):
        return bool(slots.filter(taken__lt=capacity).update(taken=F("taken") + 1))
    return False


def _free_place(booking: Booking) -> None:
    Slot.objects.filter(
        prestation_id=booking.prestation_id, site_id=booking.site_id, date=booking.date
    ).update(taken=F("taken") - 1)


def _transition(booking: Booking, status: str) -> None:
    if status not in Booking.TRANSITIONS[booking.status]:
        raise FoyerError(
            "invalid_transition",
            _("Cette réservation est « %(status)s » : impossible de la passer à « %(new)s ».")
            % {"status": booking.get_status_display(), "new": Booking.Status(status).label},
            status=409,
        )
    booking.status = status


# --- Holds -----------------------------------------------------------------------------------------


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
        _transition(booking, Booking.Status.CANCELLED)
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


def confirm_paid_cart(*, cart_id: int, now: dt.datetime | None = None) -> list[Booking]:
    """The payment of a prepaid cart arrived: its held bookings are confirmed.

    Entry point for billing. Bookings whose hold already expired stay cancelled; the caller
    flags the payment for an agent (refund or re-booking)."""
    now = now or timezone.now()
    with transaction.atomic():
        cart = Cart.objects.select_for_update().get(pk=cart_id)
        bookings = list(cart.bookings.select_for_update().filter(status=Booking.Status.HELD))
        for booking in bookings:
            _transition(booking, Booking.Status.CONFIRMED)
            booking.hold_expires_at = None
            booking.save(update_fields=["status", "hold_expires_at"])
        cart.status = Cart.Status.VALIDATED
        cart.save(update_fields=["status"])
    return bookings


# --- Cancellation ----------------------------------------------------------------------------------


def _family_booking(family_ids: list[int], booking_id: int, *, lock: bool = False) -> Booking:
    bookings = Booking.objects.select_related("prestation__service", "child", "site")
    if lock:
        bookings = bookings.select_for_update(of=("self",))
    booking = bookings.filter(pk=booking_id, family_id__in=family_ids).first()
    if booking is None:
        raise NotFound(_("Cette réservation n'existe pas."))
    return booking


def get_family_booking(*, family_ids: list[int], booking_id: int) -> Booking:
    return _family_booking(family_ids, booking_id)


def cancel_booking(
    *, family_ids: list[int], account: Account, booking_id: int, now: dt.datetime | None = None
) -> Booking:
    """Cancel (signal an absence) within the commune's deadline: immediate, the place is freed
    and a prepaid booking is credited. After the deadline: refused, with the way to ask."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        booking = _family_booking(family_ids, booking_id, lock=True)
        if booking.status not in (Booking.Status.HELD, Booking.Status.CONFIRMED):
            raise FoyerError(
                "not_cancellable",
                _("Cette réservation est « %(status)s » : elle ne peut plus être annulée.")
                % {"status": booking.get_status_display()},
                status=409,
            )
        tz = _tz()
        rule = rule_from(booking.prestation.cancellation_rule)
        start_time = booking.prestation.start_time or dt.time(0, 0)
        if booking.status == Booking.Status.CONFIRMED and not rule.is_open(
            booking.date, now=now, tz=tz, start_time=start_time
        ):
            deadline = rule.deadline_for(booking.date, tz=tz, start_time=start_time)
            raise FoyerError(
                "cancellation_deadline_passed",
                _(
                    "Le délai d'annulation est dépassé (c'était jusqu'au %(deadline)s). "
                    "Vous pouvez faire une demande d'annulation à la commune."
                )
                % {"deadline": format_deadline(deadline, tz=tz) if deadline else ""},
                status=409,
                extra={"booking_id": booking.pk, "can_request": True},
            )
        _cancel(booking, actor=account, reason=_("annulée par la famille"), now=now, credit=True)
    return booking


def _cancel(booking: Booking, *, actor: Account | None, reason: str, now: dt.datetime, credit: bool) -> None:
    was_confirmed = booking.status == Booking.Status.CONFIRMED
    _transition(booking, Booking.Status.CANCELLED)
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


def request_cancellation(
    *, family_ids: list[int], account: Account, booking_id: int, reason: str, attachment=None
) -> CancellationRequest:
    """After the deadline, ask the commune to cancel (with a certificate, for instance)."""
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("Expliquez la raison de votre demande.")]
    if attachment is not None:
        try:
            validate_attachment(attachment)
        except FoyerError as exc:
            errors["attachment"] = [exc.message]
    if errors:
        raise FoyerError(
            "invalid", _("La demande n'a pas été envoyée : corrigez les erreurs."), extra={"fields": errors}
        )
    with transaction.atomic(durable=True):
        booking = _family_booking(family_ids, booking_id, lock=True)
        if booking.status in (Booking.Status.CANCELLED,):
            raise FoyerError("not_cancellable", _("Cette réservation est déjà annulée."), status=409)
        if CancellationRequest.objects.filter(
            booking=booking, status=CancellationRequest.Status.PENDING
        ).exists():
            raise FoyerError(
                "request_pending",
                _("Une demande d'annulation est déjà en cours pour cette réservation."),
                status=409,
            )
        request = CancellationRequest(
            booking=booking, family_id=booking.family_id, account=account, reason=reason.strip()
        )
        if attachment is not None:
            request.attachment.save(attachment.name, attachment, save=False)
        request.save()
    return request


def credit_allowed(request: CancellationRequest) -> bool:
    """Whether accepting a request may credit the family: only a paid (prepaid) booking, and
    as the service's late-cancellation policy allows (with a certificate when it asks one)."""
    policy = request.booking.prestation.service.late_cancellation
    return request.booking.prestation.billing_mode == Prestation.BillingMode.PREPAID and (
        policy == Service.LateCancellation.AGENT_DECIDES
        or (policy == Service.LateCancellation.CREDIT_WITH_CERTIFICATE and bool(request.attachment))
    )


def decide_cancellation_request(
    *, request_id: int, actor: Account, accept: bool, credit: bool = False, comment: str = ""
) -> CancellationRequest:
    """An agent accepts (with or without credit, as the service allows) or refuses."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        request = (
            CancellationRequest.objects.select_for_update(of=("self",))
            .select_related("booking__prestation__service")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise NotFound()
        if request.status != CancellationRequest.Status.PENDING:
            raise FoyerError("already_decided", _("Cette demande a déjà été traitée."), status=409)
        booking = Booking.objects.select_for_update().get(pk=request.booking_id)
        if accept and credit and not credit_allowed(request):
            if request.booking.prestation.billing_mode != Prestation.BillingMode.PREPAID:
                message = _(
                    "Cette réservation n'a pas été payée : l'annuler suffit, il n'y a rien à rembourser."
                )
            elif request.booking.prestation.service.late_cancellation == Service.LateCancellation.NO_CREDIT:
                message = _("Le règlement de ce service ne prévoit pas d'avoir.")
            else:
                message = _("Un avoir demande un justificatif joint à la demande.")
            raise FoyerError("credit_not_allowed", message)
        if not accept and not comment.strip():
            raise FoyerError(
                "comment_required",
                _("Expliquez le refus à la famille."),
                extra={"fields": {"comment": [_("Ce champ est obligatoire pour un refus.")]}},
            )
        if accept:
            if booking.status in (Booking.Status.HELD, Booking.Status.CONFIRMED):
                _cancel(
                    booking, actor=actor, reason=_("demande d'annulation acceptée"), now=now, credit=False
                )
            elif booking.status in (Booking.Status.ABSENT, Booking.Status.ATTENDED):
                _transition(booking, Booking.Status.ABSENT_JUSTIFIED)
                booking.save(update_fields=["status"])
            if credit:
                record_credit(booking=booking, reason=_("demande d'annulation acceptée"))
        request.status = CancellationRequest.Status.ACCEPTED if accept else CancellationRequest.Status.REFUSED
        request.credit = accept and credit
        request.comment = comment.strip()
        request.decided_at = now
        request.decided_by = actor
        request.save()
        from .tasks import notify_cancellation_decision

        enqueue_on_commit(
            notify_cancellation_decision, schema_name=connection.schema_name, request_id=request.pk
        )
    return request


# --- Commune side: enrolment, attendance, mass cancellation ---------------------------------------


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
    *, prestation: Prestation, site: Site, day: dt.date, child: Child, status: str, actor: Account
) -> Booking:
    """Pointage: present, absent or justified absence. A child present without a booking is
    recorded (billed at the "présence sans réservation" price)."""
    if status not in (Booking.Status.ATTENDED, Booking.Status.ABSENT, Booking.Status.ABSENT_JUSTIFIED):
        raise FoyerError("invalid", _("Statut de présence inconnu."))
    now = timezone.now()
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
            _transition(booking, status)
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
            _cancel(booking, actor=actor, reason=reason, now=now, credit=True)
        if prestation is None:
            Closure.objects.get_or_create(date=day, site=site, defaults={"reason": reason})
        audit_entries.record_mass_cancellation(
            site=site, day=day, prestation=prestation, reason=reason, bookings=bookings
        )
        family_ids = sorted({booking.family_id for booking in bookings})
        if family_ids:
            from .tasks import notify_mass_cancellation

            enqueue_on_commit(
                notify_mass_cancellation,
                schema_name=connection.schema_name,
                booking_ids=[booking.pk for booking in bookings],
                reason=reason,
            )
    return len(bookings)


# --- Identity merges -------------------------------------------------------------------------------


def reassign_family(*, from_family_id: int, to_family_id: int, same_child: dict[int, int]) -> None:
    """Point this commune's reservation data at the family a dossier was merged into.

    ``same_child`` maps the dossier's children that the family already had to those."""
    _commune()
    for old, new in same_child.items():
        for model in (Enrolment, Booking, CartItem):
            model.objects.filter(child_id=old).update(child_id=new)
    target_cart = Cart.objects.filter(family_id=to_family_id, status=Cart.Status.OPEN).first()
    if target_cart is not None:
        CartItem.objects.filter(cart__family_id=from_family_id, cart__status=Cart.Status.OPEN).update(
            cart=target_cart
        )
        Cart.objects.filter(family_id=from_family_id, status=Cart.Status.OPEN).delete()
    for model in (Enrolment, Booking, Cart, CancellationRequest, BookingCredit, QuotientFamilial):
        model.objects.filter(family_id=from_family_id).update(family_id=to_family_id)


def cancel_held_cart(*, cart_id: int, reason: str, now: dt.datetime | None = None) -> int:
    """The payment of a prepaid cart failed or was abandoned: free its held places now."""
    now = now or timezone.now()
    with transaction.atomic():
        cart = Cart.objects.select_for_update().get(pk=cart_id)
        held = list(cart.bookings.select_for_update().filter(status=Booking.Status.HELD))
        for booking in held:
            _cancel(booking, actor=None, reason=reason, now=now, credit=False)
        if cart.status == Cart.Status.AWAITING_PAYMENT:
            cart.status = Cart.Status.CANCELLED
            cart.save(update_fields=["status"])
        if held:
            _tell_family_places_released([booking.pk for booking in held], reason)
    return len(held)


def _tell_family_places_released(booking_ids: list[int], reason: str) -> None:
    from .tasks import notify_places_released

    enqueue_on_commit(
        notify_places_released, schema_name=connection.schema_name, booking_ids=booking_ids, reason=reason
    )
