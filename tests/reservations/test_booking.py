"""Booking through the cart: rules enforced on the server, refusals that change nothing."""

import datetime as dt
from decimal import Decimal

import pytest

from foyer.errors import FoyerError
from reservations import services
from reservations.deadlines import DeadlineRule
from reservations.models import (
    Booking,
    BookingCredit,
    Cart,
    CartItem,
    Closure,
    PriceBracket,
    QuotientFamilial,
    Slot,
)
from tenants.context import commune_context
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue


def _add(catalogue, membership, day, now):
    family = membership.family
    account = family.guardians.get().account
    with commune_context(catalogue.commune):
        return services.add_to_cart(
            family=family,
            account=account,
            child_id=family.children.get().pk,
            prestation_id=catalogue.prestation.pk,
            site_id=catalogue.site.pk,
            day=day,
            now=now,
        )


def _validate(catalogue, membership, now):
    account = membership.family.guardians.get().account
    return services.validate_carts(
        communes=[catalogue.commune], family_ids=[membership.family_id], account=account, now=now
    )


def test_booking_within_the_deadline_is_confirmed(canteen_a, family_a):
    # given the rule "J-2 avant 10h00": for Wednesday, until Monday 10:00
    wednesday = MONDAY + dt.timedelta(days=2)
    _add(canteen_a, family_a, wednesday, now=at(MONDAY, 9, 0))
    # when the family validates at 10:00:59 (the cut-off minute counts)
    checkouts = _validate(canteen_a, family_a, now=at(MONDAY, 10, 0, 59))
    # then
    (booking,) = checkouts[0].bookings
    assert (booking.status, booking.price, booking.late) == ("confirmed", Decimal("4.05"), False)
    with commune_context(canteen_a.commune):
        assert Slot.objects.get().taken == 1
        assert Cart.objects.get().status == Cart.Status.VALIDATED


def test_one_second_after_the_cut_off_is_refused_and_nothing_changes(canteen_a, family_a):
    wednesday = MONDAY + dt.timedelta(days=2)
    with pytest.raises(FoyerError) as error:
        _add(canteen_a, family_a, wednesday, now=at(MONDAY, 10, 1, 0))
    assert error.value.message == (
        "Réservation impossible : délai de réservation dépassé (c'était jusqu'au lundi 11 janvier à 10h00)."
    )
    with commune_context(canteen_a.commune):
        assert not CartItem.objects.exists() and not Cart.objects.exists()


def test_a_deadline_passed_while_in_the_cart_refuses_the_whole_validation(canteen_a, family_a, commune_b):
    # given two lines: one still open, one whose deadline passes before "Valider"
    _add(canteen_a, family_a, MONDAY + dt.timedelta(days=2), now=at(MONDAY, 9))
    _add(canteen_a, family_a, MONDAY + dt.timedelta(days=4), now=at(MONDAY, 9))
    # when validating on Monday 10:05 (Wednesday closed at 10:00, Friday still open)
    with pytest.raises(FoyerError) as error:
        _validate(canteen_a, family_a, now=at(MONDAY, 10, 5))
    # then nothing is booked, the cart keeps both lines, and the refused line is named
    assert error.value.code == "cart_refused"
    assert error.value.extra["lines"] == [
        "Léa Martin, Prestation REPAS le 13/01/2027 : délai de réservation dépassé "
        "(c'était jusqu'au lundi 11 janvier à 10h00)"
    ]
    with commune_context(canteen_a.commune):
        assert not Booking.objects.exists()
        assert CartItem.objects.count() == 2
        assert Cart.objects.get().status == Cart.Status.OPEN
        assert not Slot.objects.filter(taken__gt=0).exists()


def test_late_booking_at_the_late_price_when_the_commune_allows_it(commune_a):
    canteen = make_catalogue(commune_a, late_price="5.20")
    membership = family_in(commune_a, "p@example.fr")
    enrol(canteen, membership.family.children.get())
    _add(canteen, membership, MONDAY + dt.timedelta(days=2), now=at(MONDAY, 11))
    (booking,) = _validate(canteen, membership, now=at(MONDAY, 11))[0].bookings
    assert (booking.late, booking.price) == (True, Decimal("5.20"))


def test_quotient_familial_bracket_sets_the_price(canteen_a, family_a):
    with commune_context(canteen_a.commune):
        PriceBracket.objects.create(
            prestation=canteen_a.prestation, qf_min=0, qf_max=600, price=Decimal("1.00")
        )
        QuotientFamilial.objects.create(family=family_a.family, value=450, valid_from=dt.date(2026, 9, 1))
    _add(canteen_a, family_a, MONDAY + dt.timedelta(days=3), now=at(MONDAY, 9))
    (booking,) = _validate(canteen_a, family_a, now=at(MONDAY, 9))[0].bookings
    assert booking.price == Decimal("1.00")


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (dt.date(2027, 5, 6), "jour férié"),  # Ascension 2027
        (MONDAY + dt.timedelta(days=5), "pas d'accueil ce jour-là"),  # Saturday
        (dt.date(2026, 12, 1), "date passée"),
    ],
)
def test_closed_days_are_refused(canteen_a, family_a, day, reason):
    with pytest.raises(FoyerError, match=reason):
        _add(canteen_a, family_a, day, now=at(MONDAY, 9))


def test_a_closure_of_the_site_is_refused_with_its_reason(canteen_a, family_a):
    with commune_context(canteen_a.commune):
        Closure.objects.create(date=MONDAY + dt.timedelta(days=3), site=canteen_a.site, reason="grève")
    with pytest.raises(FoyerError, match="fermé : grève"):
        _add(canteen_a, family_a, MONDAY + dt.timedelta(days=3), now=at(MONDAY, 9))


def test_only_enrolled_children_book(commune_a, canteen_a):
    membership = family_in(commune_a, "nonenrolled@example.fr")
    with pytest.raises(FoyerError, match="n'est pas inscrit"):
        _add(canteen_a, membership, MONDAY + dt.timedelta(days=3), now=at(MONDAY, 9))


def test_a_family_cannot_book_for_another_familys_child(canteen_a, family_a, commune_a):
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002")
    with commune_context(commune_a), pytest.raises(FoyerError) as error:
        services.add_to_cart(
            family=other.family,
            account=other.family.guardians.get().account,
            child_id=family_a.family.children.get().pk,
            prestation_id=canteen_a.prestation.pk,
            site_id=canteen_a.site.pk,
            day=MONDAY + dt.timedelta(days=3),
            now=at(MONDAY, 9),
        )
    assert error.value.status == 404
    with commune_context(commune_a):
        assert not CartItem.objects.exists()


def _book(catalogue, membership, day, now):
    _add(catalogue, membership, day, now=now)
    return _validate(catalogue, membership, now=now)[0].bookings[0]


def test_cancel_within_the_deadline_frees_the_place(canteen_a, family_a):
    thursday = MONDAY + dt.timedelta(days=3)
    booking = _book(canteen_a, family_a, thursday, now=at(MONDAY, 9))
    account = family_a.family.guardians.get().account
    # the cancellation rule "J-1 à 18h00": until Wednesday 18:00
    with commune_context(canteen_a.commune):
        services.cancel_booking(
            family_ids=[family_a.family_id],
            account=account,
            booking_id=booking.pk,
            now=at(MONDAY + dt.timedelta(days=2), 18, 0, 59),
        )
        booking.refresh_from_db()
        assert booking.status == "cancelled"
        assert Slot.objects.get().taken == 0
        assert not BookingCredit.objects.exists()  # month-end: nothing was paid


def test_cancel_after_the_deadline_is_refused_and_offers_a_request(canteen_a, family_a):
    thursday = MONDAY + dt.timedelta(days=3)
    booking = _book(canteen_a, family_a, thursday, now=at(MONDAY, 9))
    account = family_a.family.guardians.get().account
    with commune_context(canteen_a.commune):
        with pytest.raises(FoyerError) as error:
            services.cancel_booking(
                family_ids=[family_a.family_id],
                account=account,
                booking_id=booking.pk,
                now=at(MONDAY + dt.timedelta(days=2), 18, 1),
            )
        assert error.value.extra == {"booking_id": booking.pk, "can_request": True}
        assert "mercredi 13 janvier à 18h00" in error.value.message
        booking.refresh_from_db()
        assert booking.status == "confirmed"
        assert Slot.objects.get().taken == 1


def test_another_family_cannot_cancel_my_booking(canteen_a, family_a, commune_a):
    booking = _book(canteen_a, family_a, MONDAY + dt.timedelta(days=3), now=at(MONDAY, 9))
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002")
    with commune_context(commune_a):
        with pytest.raises(FoyerError) as error:
            services.cancel_booking(
                family_ids=[other.family_id],
                account=other.family.guardians.get().account,
                booking_id=booking.pk,
                now=at(MONDAY, 9),
            )
        assert error.value.status == 404
        booking.refresh_from_db()
        assert booking.status == "confirmed"


def test_prepaid_booking_is_held_then_expires_and_frees_the_place(commune_a):
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", capacity=1, price="12.00")
    first = family_in(commune_a, "first@example.fr")
    second = family_in(commune_a, "second@example.fr", name="Durand", dossier="F00002")
    for membership in (first, second):
        enrol(leisure, membership.family.children.get())
    wednesday = MONDAY + dt.timedelta(days=2)
    # the first family validates and must pay within 30 minutes
    held = _book(leisure, first, wednesday, now=at(MONDAY, 8))
    assert held.status == "held" and held.hold_expires_at == at(MONDAY, 8, 30)
    with commune_context(commune_a):
        assert Cart.objects.get(family=first.family).status == Cart.Status.AWAITING_PAYMENT
    # the second family is refused while the hold runs...
    _add(leisure, second, wednesday, now=at(MONDAY, 8, 10))
    with pytest.raises(FoyerError) as error:
        _validate(leisure, second, now=at(MONDAY, 8, 10))
    assert error.value.extra["lines"] == [
        "Léa Durand, Prestation MERJ le 13/01/2027 : plus de place disponible"
    ]
    # ...and gets the place once the hold has expired unpaid
    (booking,) = _validate(leisure, second, now=at(MONDAY, 8, 31))[0].bookings
    assert booking.status == "held"
    with commune_context(commune_a):
        held.refresh_from_db()
        assert held.status == "cancelled"
        assert Cart.objects.get(family=first.family).status == Cart.Status.EXPIRED
        assert Slot.objects.get().taken == 1


def test_expire_holds_task_frees_places(commune_a):
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", capacity=5, price="12.00")
    membership = family_in(commune_a, "first@example.fr")
    enrol(leisure, membership.family.children.get())
    held = _book(leisure, membership, MONDAY + dt.timedelta(days=2), now=at(MONDAY, 8))
    with commune_context(commune_a):
        assert services.expire_holds(now=at(MONDAY, 8, 29)) == 0
        assert services.expire_holds(now=at(MONDAY, 8, 30)) == 1
        held.refresh_from_db()
        assert held.status == "cancelled"
        assert Slot.objects.get().taken == 0


def test_paid_cart_confirms_its_bookings_and_a_cancellation_in_time_is_credited(commune_a):
    leisure = make_catalogue(
        commune_a,
        code="MERJ",
        billing_mode="prepaid",
        price="12.00",
        cancellation_rule=DeadlineRule.hours_before(72),
    )
    membership = family_in(commune_a, "first@example.fr")
    enrol(leisure, membership.family.children.get())
    held = _book(leisure, membership, MONDAY + dt.timedelta(days=9), now=at(MONDAY, 8))
    with commune_context(commune_a):
        (confirmed,) = services.confirm_paid_cart(cart_id=held.cart_id, now=at(MONDAY, 8, 5))
        assert confirmed.status == "confirmed"
        services.cancel_booking(
            family_ids=[membership.family_id],
            account=membership.family.guardians.get().account,
            booking_id=held.pk,
            now=at(MONDAY, 9),
        )
        credit = BookingCredit.objects.get()
        assert (credit.amount, credit.family_id) == (Decimal("12.00"), membership.family_id)


def test_no_credit_for_a_booking_that_was_never_paid(canteen_a, family_a):
    from reservations.models import CancellationRequest

    booking = _book(canteen_a, family_a, MONDAY + dt.timedelta(days=3), now=at(MONDAY, 9))
    account = family_a.family.guardians.get().account
    with commune_context(canteen_a.commune):
        request = services.request_cancellation(
            family_ids=[family_a.family_id], account=account, booking_id=booking.pk, reason="Malade"
        )
        with pytest.raises(FoyerError, match="rien à rembourser"):
            services.decide_cancellation_request(
                request_id=request.pk, actor=account, accept=True, credit=True
            )
        request.refresh_from_db()
        assert request.status == CancellationRequest.Status.PENDING
        assert not BookingCredit.objects.exists()


def test_a_mass_cancellation_reason_too_long_is_refused(canteen_a, family_a):
    account = family_a.family.guardians.get().account
    with commune_context(canteen_a.commune), pytest.raises(FoyerError, match="trop long"):
        services.mass_cancel(site=canteen_a.site, day=MONDAY, reason="x" * 201, actor=account)


def test_beat_releases_expired_holds_in_every_commune(commune_a):
    from reservations.tasks import expire_holds_everywhere

    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", capacity=5, price="12.00")
    membership = family_in(commune_a, "first@example.fr")
    enrol(leisure, membership.family.children.get())
    held = _book(leisure, membership, MONDAY + dt.timedelta(days=2), now=at(MONDAY, 8))
    with commune_context(commune_a):
        Booking.objects.filter(pk=held.pk).update(hold_expires_at=at(dt.date(2026, 1, 5), 8))
    expire_holds_everywhere.apply()
    with commune_context(commune_a):
        held.refresh_from_db()
        assert held.status == "cancelled"
