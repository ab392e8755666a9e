"""The booking path's SQL, pinned: add-to-cart and validation read what they need in a few
set-based queries, whatever the number of the family's communes and children, and validating
costs one more statement per extra line (the place taken on the slot row).

Counted as in the other pinned tests: every statement but django-tenants' ``SET search_path``.
A request's own transaction (validation) shows as a SAVEPOINT and its RELEASE here, because
each test runs inside a transaction; in production they are its BEGIN and COMMIT."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from foyer.errors import FoyerError
from reservations import services
from reservations.models import Booking, Cart, Slot
from shared_identity.models import Child
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import commune_path
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue

# The commune, the session, the account, the child (of the account's families, member of the
# commune), then the prestation with every fact of the line, the open cart (created on the
# first add) and the line.
ADD_FIRST = 7
ADD_TO_OPEN_CART = 6
# The session, the account, the memberships; the transaction; the lines with every fact they
# need; one conditional UPDATE of the slot per line; the bookings; the cart; the session.
VALIDATE_ONE_LINE = 10
PER_EXTRA_LINE = 1


def _count(context) -> int:
    return len([q for q in context.captured_queries if not q["sql"].startswith("SET search_path")])


def _days(n: int) -> list[dt.date]:
    """n school days from Wednesday 13 January 2027 (Monday to Friday, no holiday)."""
    days, day = [], MONDAY + dt.timedelta(days=2)
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _add(client, catalogue, child, day):
    response = client.post(
        commune_path(catalogue.commune, "panier/ajouter/"),
        {"child": child.pk, "prestation": catalogue.prestation.pk, "site": catalogue.site.pk, "date": day},
    )
    assert response.status_code == 302
    return response


def _family(
    commune, canteen, *, children: int = 1, email: str = "parent@example.fr", dossier: str = "F00001"
):
    membership = family_in(commune, email, dossier=dossier)
    family = membership.family
    for n in range(1, children):
        Child.objects.create(
            family=family, first_name=f"Enfant{n}", last_name="Martin", birth_date=dt.date(2018, 1, n)
        )
    for child in family.children.all():
        enrol(canteen, child)
    return membership


@pytest.fixture
def now_monday(monkeypatch):
    """A Monday morning: every day of the two following weeks is within the booking deadline."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: at(MONDAY, 8))


def _validate(client) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/panier/valider/")
    assert response["Location"] == "/panier/valide/"
    return queries


def test_add_to_cart_reads_the_line_in_one_query(client, commune_a, canteen_a, family_a, now_monday):
    # given
    child = family_a.family.children.get()
    client.force_login(family_a.family.guardians.get().account)
    first, second = _days(2)
    # when
    with CaptureQueriesContext(connection) as opening:
        _add(client, canteen_a, child, first)
    with CaptureQueriesContext(connection) as adding:
        _add(client, canteen_a, child, second)
    # then
    assert _count(opening) == ADD_FIRST
    assert _count(adding) == ADD_TO_OPEN_CART
    with commune_context(commune_a):
        cart = Cart.objects.get(family=family_a.family, status=Cart.Status.OPEN)
        assert sorted(cart.items.values_list("date", flat=True)) == [first, second]


def test_add_to_cart_costs_the_same_for_more_children_and_communes(
    client, commune_a, commune_b, canteen_a, now_monday
):
    # given: three children, and a second commune
    membership = _family(commune_a, canteen_a, children=3)
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    make_catalogue(commune_b, code="MERJ")
    child = membership.family.children.order_by("pk").last()
    client.force_login(membership.family.guardians.get().account)
    first, second = _days(2)
    # when
    with CaptureQueriesContext(connection) as opening:
        _add(client, canteen_a, child, first)
    with CaptureQueriesContext(connection) as adding:
        _add(client, canteen_a, child, second)
    # then
    assert _count(opening) == ADD_FIRST
    assert _count(adding) == ADD_TO_OPEN_CART


@pytest.mark.parametrize("lines", [1, 3, 10])
def test_validation_costs_one_statement_per_extra_line(
    client, commune_a, canteen_a, family_a, now_monday, lines
):
    # given
    child = family_a.family.children.get()
    client.force_login(family_a.family.guardians.get().account)
    for day in _days(lines):
        _add(client, canteen_a, child, day)
    # when
    queries = _validate(client)
    # then
    assert _count(queries) == VALIDATE_ONE_LINE + PER_EXTRA_LINE * (lines - 1)
    with commune_context(commune_a):
        assert Booking.objects.filter(child=child, status=Booking.Status.CONFIRMED).count() == lines
        assert list(Slot.objects.values_list("taken", flat=True).distinct()) == [1]


def test_validation_costs_the_same_for_more_children(client, commune_a, canteen_a, now_monday):
    # given: three children, one line each
    membership = _family(commune_a, canteen_a, children=3)
    client.force_login(membership.family.guardians.get().account)
    day = _days(1)[0]
    for child in membership.family.children.all():
        _add(client, canteen_a, child, day)
    # when
    queries = _validate(client)
    # then: as three lines of one child
    assert _count(queries) == VALIDATE_ONE_LINE + PER_EXTRA_LINE * 2
    with commune_context(commune_a):
        assert Slot.objects.get().taken == 3


def test_validation_asks_each_commune_in_one_statement(
    client, commune_a, commune_b, canteen_a, family_a, now_monday
):
    # given: the family also belongs to a second commune, where its cart is empty
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    child = family_a.family.children.get()
    client.force_login(family_a.family.guardians.get().account)
    _add(client, canteen_a, child, _days(1)[0])
    # when
    queries = _validate(client)
    # then: one statement over both schemas finds the carts with lines; nothing is read in the other
    assert _count(queries) == VALIDATE_ONE_LINE + 1
    unions = [q["sql"] for q in queries.captured_queries if "UNION ALL" in q["sql"]]
    assert len(unions) == 1 and "c_jolieville" in unions[0] and "c_demo" in unions[0]
    assert not [q for q in queries.captured_queries if "c_demo" in q["sql"] and "UNION ALL" not in q["sql"]]


def test_a_booking_made_meanwhile_refuses_the_whole_cart(committed_db, monkeypatch):
    # given: two lines in the cart; between the reading of the lines and the insert of the
    # bookings, another request (its own connection, committed) books the second day
    from reservations.services import cart as cart_module

    commune = Commune.objects.get(slug="jolieville")
    canteen = make_catalogue(commune)
    membership = _family(commune, canteen)
    child = membership.family.children.get()
    account = membership.family.guardians.get().account
    first, second = _days(2)
    now = at(MONDAY, 8)
    with commune_context(commune):
        for day in (first, second):
            services.add_to_cart(
                family=membership.family,
                account=account,
                child_id=child.pk,
                prestation_id=canteen.prestation.pk,
                site_id=canteen.site.pk,
                day=day,
                now=now,
            )
    calendar_of = cart_module.calendar_of

    def book_elsewhere(day):
        try:
            with commune_context(commune):
                Booking.objects.create(
                    child=child,
                    family=membership.family,
                    prestation=canteen.prestation,
                    site=canteen.site,
                    date=day,
                    status=Booking.Status.CONFIRMED,
                    price="4.05",
                )
        finally:
            connections.close_all()

    def calendar_while_booked_elsewhere(lines):
        # called once the lines are read, before anything is written
        other = threading.Thread(target=book_elsewhere, args=(second,))
        other.start()
        other.join(timeout=30)
        return calendar_of(lines)

    monkeypatch.setattr(cart_module, "calendar_of", calendar_while_booked_elsewhere)
    # when
    with pytest.raises(FoyerError) as refused:
        services.validate_carts(
            communes=[commune], family_ids=[membership.family_id], account=account, now=now
        )
    # then: that line is named; nothing of the cart was booked, no place taken, the cart is open
    assert refused.value.code == "cart_refused"
    assert refused.value.extra["lines"] == [
        f"Léa Martin, Prestation REPAS le {second.strftime('%d/%m/%Y')} : déjà réservé"
    ]
    with commune_context(commune):
        assert list(Booking.objects.values_list("date", "cart")) == [(second, None)]
        assert not Slot.objects.filter(taken__gt=0).exists()
        assert Cart.objects.get().status == Cart.Status.OPEN


def test_add_to_cart_is_not_found_for_another_family_or_commune(
    client, commune_a, commune_b, canteen_a, family_a
):
    # given: another family of commune A, and commune B that family A has not joined
    other = _family(commune_a, canteen_a, email="other@example.fr", dossier="F00002")
    canteen_b = make_catalogue(commune_b, code="MERJ")
    client.force_login(family_a.family.guardians.get().account)
    day = _days(1)[0]
    # when
    foreign_child = client.post(
        commune_path(commune_a, "panier/ajouter/"),
        {
            "child": other.family.children.get().pk,
            "prestation": canteen_a.prestation.pk,
            "site": canteen_a.site.pk,
            "date": day,
        },
    )
    foreign_commune = client.post(
        commune_path(commune_b, "panier/ajouter/"),
        {
            "child": family_a.family.children.get().pk,
            "prestation": canteen_b.prestation.pk,
            "site": canteen_b.site.pk,
            "date": day,
        },
    )
    # then
    assert foreign_child.status_code == foreign_commune.status_code == 404
    for commune in (commune_a, commune_b):
        with commune_context(commune):
            assert not Cart.objects.exists()
