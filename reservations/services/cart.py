"""The cart: adding a day or a weekly pattern, removing, and validating every commune's cart
at once (places taken under concurrency, prepaid prestations held until paid)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.uploads import validate_attachment
from shared_identity.models import Account, Child, Family
from tenants.context import commune_context
from tenants.schemas import union_over_schemas

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
from .checks import (
    Refusal,
    booking_refusal,
    calendar_of,
    commune_calendar,
    commune_tz,
    line_facts,
    price_of,
    refusal_from,
)


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
    """Put one booking in the family's cart of this commune, or refuse it with the reason.

    One read (the prestation and its service, with every fact of the line: see
    ``checks.line_facts``, the child's family, the open cart and the line already in it), then
    at most two writes: the open cart when there is none, and the line."""
    now = now or timezone.now()
    open_cart = Cart.objects.filter(family=family, status=Cart.Status.OPEN)
    prestation = (
        Prestation.objects.select_related("service")
        .filter(pk=prestation_id)
        .annotate(
            site_exists=Exists(Site.objects.filter(pk=site_id)),
            child_in_family=Exists(Child.objects.filter(pk=child_id, family=family)),
            cart_id=Subquery(open_cart.values("pk")[:1]),
            item_id=Subquery(
                CartItem.objects.filter(
                    cart__in=open_cart, child_id=child_id, prestation_id=prestation_id, date=day
                ).values("pk")[:1]
            ),
            **line_facts(
                child=child_id,
                prestation=prestation_id,
                service=OuterRef("service_id"),
                site=site_id,
                day=day,
                family=family,
            ),
        )
        .first()
    )
    if prestation is None or not prestation.site_exists:
        raise NotFound(_("Cette prestation n'existe pas."))
    if not prestation.child_in_family:
        raise NotFound(_("Cet enfant n'est pas dans votre famille."))
    prestation.date = day  # the line's day, for calendar_of
    reason, _late = refusal_from(
        prestation=prestation,
        offered=prestation.offered,
        enrolled=prestation.enrolled,
        booked=prestation.booked,
        site_id=site_id,
        day=day,
        now=now,
        calendar=calendar_of([prestation]),
    )
    if reason:
        raise FoyerError("not_bookable", _("Réservation impossible : %(reason)s.") % {"reason": reason})
    if prestation.item_id is not None:
        return CartItem.objects.get(pk=prestation.item_id)
    cart_id = prestation.cart_id if prestation.cart_id is not None else _open_cart_id(family, account)
    # One statement: a line added meanwhile by another request of the family (a double tap)
    # is the same line.
    (item,) = CartItem.objects.bulk_create(
        [
            CartItem(
                cart_id=cart_id,
                child_id=child_id,
                prestation_id=prestation_id,
                site_id=site_id,
                date=day,
                action=CartItem.Action.BOOK,
            )
        ],
        update_conflicts=True,
        unique_fields=["cart", "child", "prestation", "date"],
        update_fields=["site"],
    )
    return item


# The family's open cart, opened when there is none, in one statement: a cart opened meanwhile
# by another request of the family (one open cart a family: a partial unique index) is returned.
_OPEN_CART = """
    INSERT INTO reservations_cart (family_id, account_id, status, created_at)
    VALUES (%(family)s, %(account)s, 'open', %(now)s)
    ON CONFLICT (family_id) WHERE status = 'open' DO UPDATE SET status = reservations_cart.status
    RETURNING id
"""


def _open_cart_id(family: Family, account: Account) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_CART, {"family": family.pk, "account": account.pk, "now": timezone.now()})
        return cursor.fetchone()[0]


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


def _absence(item: CartItem, *, family_id: int, account, now, checkout: CommuneCheckout, refusals) -> None:
    """One absence of the cart: cancelled now within the deadline, else kept for the request."""
    booking = (
        Booking.objects.select_for_update()
        .select_related("prestation")
        .filter(family_id=family_id, child=item.child, prestation=item.prestation, date=item.date)
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
    try:
        with transaction.atomic(durable=True):
            for commune in _communes_with_lines(communes, family_ids):
                with commune_context(commune):
                    for checkout in _validate_commune_carts(
                        commune=commune, family_ids=family_ids, account=account, now=now, refusals=refusals
                    ):
                        results.append(checkout)
                        if checkout.requested and absence_reason:
                            checkout.request = _request_for(checkout, account, absence_reason, certificate)
            if refusals or (any(c.requested for c in results) and not absence_reason):
                transaction.set_rollback(True)
    except _BookedMeanwhile as booked:
        # Another request booked one of these children for the same day after the lines were
        # read: nothing was validated (the transaction is rolled back); say which lines.
        with commune_context(booked.commune):
            refusals = _already_booked(booked.lines)
        if not refusals:  # that other booking was cancelled or rolled back since
            raise FoyerError(
                "cart_changed",
                _("Rien n'a été réservé : une réservation a changé pendant la validation, réessayez."),
                status=409,
            ) from booked
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


# The communes where the family's open cart has lines: one statement over their schemas (as
# the family router reads), so that a family of many communes does not pay a query in each.
_OPEN_LINES = (
    "SELECT %s FROM {s}.reservations_cart WHERE family_id = ANY(%s) AND status = 'open' "
    "AND EXISTS (SELECT 1 FROM {s}.reservations_cartitem WHERE cart_id = reservations_cart.id)"
)


def _communes_with_lines(communes: list, family_ids: list[int]) -> list:
    if len(communes) < 2:
        return list(communes)
    sql, params = union_over_schemas(_OPEN_LINES, [commune.schema_name for commune in communes], family_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        schemas = {row[0] for row in cursor.fetchall()}
    return [commune for commune in communes if commune.schema_name in schemas]


class _BookedMeanwhile(Exception):
    def __init__(self, commune, lines: list[CartItem]):
        super().__init__("a line was booked by another request meanwhile")
        self.commune = commune
        self.lines = lines


def _already_booked(lines: list[CartItem]) -> list[Refusal]:
    booked = set(
        Booking.objects.filter(
            child_id__in={line.child_id for line in lines},
            prestation_id__in={line.prestation_id for line in lines},
            date__in={line.date for line in lines},
        )
        .exclude(status=Booking.Status.CANCELLED)
        .values_list("child_id", "prestation_id", "date")
    )
    return [
        Refusal(str(line.child), line.prestation.label, line.date, _("déjà réservé"))
        for line in lines
        if (line.child_id, line.prestation_id, line.date) in booked
    ]


def _validate_commune_carts(
    *, commune, family_ids: list[int], account, now, refusals: list[Refusal]
) -> list[CommuneCheckout]:
    """The family's open carts in this commune: one query locks them and reads their lines with
    every fact the checks and the prices need; then one statement for the bookings, one for the
    carts, and one per place taken, last."""
    lines = list(
        CartItem.objects.filter(cart__family_id__in=family_ids, cart__status=Cart.Status.OPEN)
        .select_related("cart", "child", "prestation__service", "site")
        .select_for_update(of=("cart",))
        .annotate(
            **line_facts(
                child=OuterRef("child_id"),
                prestation=OuterRef("prestation_id"),
                service=OuterRef("prestation__service_id"),
                site=OuterRef("site_id"),
                day=OuterRef("date"),
                family=OuterRef("cart__family_id"),
            )
        )
        .order_by("cart_id", "date", "pk")
    )
    if not lines:
        return []
    calendar = calendar_of(lines)
    hold_until = now + dt.timedelta(minutes=commune.booking_hold_minutes)
    checkouts: dict[int, CommuneCheckout] = {}
    new_bookings: list[tuple[CommuneCheckout, Booking]] = []
    places: list[CartItem] = []
    for line in lines:
        cart = line.cart
        checkout = checkouts.setdefault(cart.pk, CommuneCheckout(commune=commune, cart=cart))
        if line.action == CartItem.Action.CANCEL:
            _absence(
                line, family_id=cart.family_id, account=account, now=now, checkout=checkout, refusals=refusals
            )
            continue
        prestation = line.prestation
        reason, late = refusal_from(
            prestation=prestation,
            offered=line.offered,
            enrolled=line.enrolled,
            booked=line.booked,
            site_id=line.site_id,
            day=line.date,
            now=now,
            calendar=calendar,
        )
        if reason:
            refusals.append(Refusal(str(line.child), prestation.label, line.date, reason))
            continue
        places.append(line)
        prepaid = prestation.billing_mode == Prestation.BillingMode.PREPAID
        booking = Booking(
            child=line.child,
            family_id=cart.family_id,
            prestation=prestation,
            site=line.site,
            date=line.date,
            status=Booking.Status.HELD if prepaid else Booking.Status.CONFIRMED,
            cart=cart,
            hold_expires_at=hold_until if prepaid else None,
            price=price_of(line, prestation=prestation, late=late),
            late=late,
            created_by=account,
        )
        new_bookings.append((checkout, booking))
    if refusals:
        return list(checkouts.values())  # rolled back by the caller: nothing more to write
    if new_bookings:
        try:
            Booking.objects.bulk_create([booking for _checkout, booking in new_bookings])
        except IntegrityError as error:
            # The same child was booked for that day by another request a moment ago (the
            # transaction is aborted: the caller rolls it back and names the lines).
            raise _BookedMeanwhile(
                commune, [line for line in lines if line.action == CartItem.Action.BOOK]
            ) from error
    for checkout, booking in new_bookings:
        checkout.bookings.append(booking)
        if booking.status == Booking.Status.HELD:
            checkout.amount_due += booking.price
    by_status: dict[tuple[str, dt.datetime | None], list[int]] = {}
    for checkout in checkouts.values():
        cart = checkout.cart
        if checkout.amount_due:
            cart.status, cart.hold_expires_at = Cart.Status.AWAITING_PAYMENT, hold_until
        else:
            cart.status = Cart.Status.VALIDATED
        cart.validated_at = now
        by_status.setdefault((cart.status, cart.hold_expires_at), []).append(cart.pk)
    for (status, hold_expires_at), cart_ids in by_status.items():
        Cart.objects.filter(pk__in=cart_ids).update(
            status=status, hold_expires_at=hold_expires_at, validated_at=now
        )
    # The places last, so that each slot row stays locked only from here to the commit (at rush
    # hour every family of a commune waits for the same row), and in one order for every
    # request, so that two carts of several days cannot wait for each other. A refusal rolls
    # back everything written above (the caller).
    for line in sorted(places, key=lambda line: (line.prestation_id, line.site_id, line.date)):
        if not take_place(line.prestation_id, line.site_id, line.date, capacity=line.capacity, now=now):
            refusals.append(
                Refusal(str(line.child), line.prestation.label, line.date, _("plus de place disponible"))
            )
    return list(checkouts.values())
