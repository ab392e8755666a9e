"""The cart: adding a day or a weekly pattern, removing, and validating every commune's cart
at once (places taken under concurrency, prepaid prestations held until paid)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.uploads import validate_attachment
from shared_identity.models import Account, Child, Family
from tenants.context import commune_context

from ..deadlines import rule_from
from ..models import (
    Booking,
    CancellationRequest,
    Cart,
    CartItem,
    Enrolment,
    Prestation,
    Site,
)
from ..opening import CommuneCalendar
from .bookings import cancel_and_free, take_place
from .checks import Refusal, booking_price, booking_refusal, commune_calendar, commune_tz, family_child


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
    child = family_child(family, child_id)
    prestation = Prestation.objects.select_related("service").filter(pk=prestation_id).first()
    site = Site.objects.filter(pk=site_id).first()
    if prestation is None or site is None:
        raise NotFound(_("Cette prestation n'existe pas."))
    reason, _late = booking_refusal(
        child=child, prestation=prestation, site=site, day=day, now=now, calendar=commune_calendar([day])
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


def add_absence_to_cart(*, family_ids: list[int], account: Account, booking_id: int) -> CartItem:
    """ "Signaler une absence": the booking goes to the cart as an absence, with others (several
    days, several children) before one validation. Validating cancels at once what is within the
    commune's deadline and files one cancellation request for the rest."""
    with transaction.atomic(durable=True):
        booking = (
            Booking.objects.select_related("child", "prestation")
            .filter(pk=booking_id, family_id__in=family_ids)
            .first()
        )
        if booking is None:
            raise NotFound()
        if booking.status != Booking.Status.CONFIRMED:
            raise FoyerError(
                "not_cancellable",
                _("Cette réservation est « %(status)s » : il n'y a pas d'absence à signaler.")
                % {"status": booking.get_status_display()},
                status=409,
            )
        if CancellationRequest.objects.filter(
            Q(booking=booking) | Q(extra_bookings=booking), status=CancellationRequest.Status.PENDING
        ).exists():
            raise FoyerError(
                "request_pending", _("Une demande d'annulation est déjà en cours pour ce jour."), status=409
            )
        cart = _open_cart(booking.family, account)
        item, _created = CartItem.objects.get_or_create(
            cart=cart,
            child=booking.child,
            prestation=booking.prestation,
            date=booking.date,
            defaults={"site": booking.site, "action": CartItem.Action.CANCEL},
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
    weekdays: set[int] | None,
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
) -> PatternResult:
    """ "Réserver en vue période": one weekly pattern from a date to another, for several
    children at once (``weekdays`` None: every day the prestation is offered, as "Réserver la
    semaine" does). What can be booked goes to the cart; the rest is listed with the reason."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    prestation = Prestation.objects.select_related("service").filter(pk=prestation_id).first()
    if prestation is None:
        errors["prestation"] = [_("Choisissez une prestation.")]
    elif weekdays is None:
        weekdays = set(prestation.weekdays)
    if not children:
        errors["children"] = [_("Choisissez au moins un enfant.")]
    if prestation is not None and (not weekdays or not weekdays <= set(range(7))):
        errors["weekdays"] = [_("Choisissez au moins un jour de la semaine.")]
    if end < start:
        errors["end"] = [_("La date de fin précède la date de début.")]
    elif (end - start).days >= MAX_PATTERN_DAYS:
        errors["end"] = [_("Une période dure au plus un an.")]
    if errors:
        raise FoyerError(
            "invalid", _("Rien n'a été ajouté : corrigez les erreurs."), extra={"fields": errors}
        )
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    days = [day for day in days if day.weekday() in weekdays]
    calendar = commune_calendar(days) if days else CommuneCalendar()
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
                reason, _late = booking_refusal(
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


def _absence(item: CartItem, *, family: Family, account, now, checkout: CommuneCheckout, refusals) -> None:
    """One absence of the cart: cancelled now within the deadline, else kept for the request."""
    booking = (
        Booking.objects.select_for_update()
        .select_related("prestation")
        .filter(family=family, child=item.child, prestation=item.prestation, date=item.date)
        .exclude(status=Booking.Status.CANCELLED)
        .first()
    )
    if booking is None or booking.status != Booking.Status.CONFIRMED:
        refusals.append(Refusal(str(item.child), item.prestation.label, item.date, _("plus rien à annuler")))
        return
    tz = commune_tz()
    start_time = booking.prestation.start_time or dt.time(0, 0)
    if rule_from(booking.prestation.cancellation_rule).is_open(
        booking.date, now=now, tz=tz, start_time=start_time
    ):
        cancel_and_free(
            booking, actor=account, reason=_("absence signalée par la famille"), now=now, credit=True
        )
        checkout.cancelled.append(booking)
    else:
        checkout.requested.append(booking)


def _request_for(checkout: CommuneCheckout, account, reason: str, certificate) -> CancellationRequest:
    """The commune's one cancellation request for the absences after the deadline."""
    first, *others = checkout.requested
    request = CancellationRequest(booking=first, family_id=first.family_id, account=account, reason=reason)
    if certificate is not None:
        certificate.seek(0)
        request.attachment.save(certificate.name, certificate, save=False)
    request.save()
    request.extra_bookings.set(others)
    return request


def remove_pattern_from_cart(
    *, children: list[Child], prestation_id: int, weekdays: set[int], start: dt.date, end: dt.date
) -> int:
    """The reverse of add_pattern_to_cart: the days of the pattern leave the children's open
    carts (bookings already validated stay: cancelling is done from the week). Returns how
    many days left the cart."""
    errors: dict[str, list[str]] = {}
    if not children:
        errors["children"] = [_("Choisissez au moins un enfant.")]
    if not weekdays or not weekdays <= set(range(7)):
        errors["weekdays"] = [_("Choisissez au moins un jour de la semaine.")]
    if end < start:
        errors["end"] = [_("La date de fin précède la date de début.")]
    if errors:
        raise FoyerError(
            "invalid", _("Rien n'a été retiré : corrigez les erreurs."), extra={"fields": errors}
        )
    with transaction.atomic(durable=True):
        items = CartItem.objects.filter(
            cart__status=Cart.Status.OPEN,
            child__in=children,
            prestation_id=prestation_id,
            date__range=(start, end),
            action=CartItem.Action.BOOK,
        )
        ids = [item.pk for item in items if item.date.weekday() in weekdays]
        CartItem.objects.filter(pk__in=ids).delete()
    return len(ids)


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
    cancelled: list[Booking] = field(default_factory=list)  # absences within the deadline
    requested: list[Booking] = field(default_factory=list)  # after it: one request to the commune
    request: CancellationRequest | None = None


def validate_carts(
    *,
    communes: list,
    family_ids: list[int],
    account: Account,
    absence_reason: str = "",
    certificate=None,
    now: dt.datetime | None = None,
) -> list[CommuneCheckout]:
    """ "Valider": apply the family's carts of all these communes at once, or none of them.

    Month-end prestations are confirmed; prepaid ones are held until paid (the commune's hold
    delay), and their cart awaits payment. Absences within the cancellation deadline are
    cancelled (a paid booking is credited); those after it become ONE cancellation request per
    commune, with ``absence_reason`` and the ``certificate`` (both asked for only then). Any
    refusal (deadline passed in the meantime, no place left) cancels the whole validation and
    says which lines to change."""
    now = now or timezone.now()
    absence_reason = (absence_reason or "").strip()
    if certificate is not None:
        try:
            validate_attachment(certificate)
        except FoyerError as exc:
            raise FoyerError(
                "invalid",
                _("Rien n'a été validé : corrigez les erreurs."),
                extra={"fields": {"certificate": [exc.message]}},
            ) from exc
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
                        if checkout.requested and absence_reason:
                            checkout.request = _request_for(checkout, account, absence_reason, certificate)
        if refusals or (any(c.requested for c in results) and not absence_reason):
            transaction.set_rollback(True)
    if not refusals and any(c.requested for c in results) and not absence_reason:
        raise FoyerError(
            "absence_reason_required",
            _("Rien n'a été validé : des absences dépassent le délai d'annulation, indiquez-en le motif."),
            extra={"fields": {"absence_reason": [_("Indiquez le motif de l'absence (maladie…).")]}},
        )
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
    calendar = commune_calendar([item.date for item in items])
    checkout = CommuneCheckout(commune=commune, cart=cart)
    hold_until = now + dt.timedelta(minutes=commune.booking_hold_minutes)
    for item in items:
        if item.action == CartItem.Action.CANCEL:
            _absence(item, family=family, account=account, now=now, checkout=checkout, refusals=refusals)
            continue
        reason, late = booking_refusal(
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
                if not take_place(item.prestation, item.site, item.date, now=now):
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
