"""On a phone, a parent books next week's school meals (Monday, Tuesday, Thursday, Friday) for
two children in two communes and validates: the taps are counted, and kept low."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reservations.deadlines import DeadlineRule
from reservations.models import Booking, Prestation
from shared_identity.models import Child
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import PASSWORD
from tests.reservations.conftest import enrol, family_in, make_catalogue

pytestmark = pytest.mark.browser

SCHOOL_DAYS = [0, 1, 3, 4]
# Menu "Réservations", "Suivante", one "Réserver la semaine" per child and commune (4),
# menu "Panier", "Valider".
MOST_TAPS = 8


def test_a_parent_books_next_weeks_meals_for_two_children_in_two_communes_in_a_few_taps(live_url, browser):
    # given two children enrolled at the canteen of two communes, meals on school days
    jolieville, demo = Commune.objects.get(slug="jolieville"), Commune.objects.get(slug="demo")
    membership = family_in(jolieville, "parent@example.fr")
    family = membership.family
    family.memberships.create(commune=demo, dossier_number="D-1", status="active")
    Child.objects.create(family=family, first_name="Hugo", last_name="Martin", birth_date=dt.date(2019, 3, 2))
    for commune in (jolieville, demo):
        canteen = make_catalogue(commune, booking_rule=DeadlineRule.none())
        with commune_context(commune):
            Prestation.objects.filter(pk=canteen.prestation.pk).update(weekdays=SCHOOL_DAYS)
        for child in family.children.all():
            enrol(canteen, child)
    page = browser.new_context(viewport={"width": 375, "height": 812}).new_page()
    page.goto(f"{live_url}/connexion/")
    page.fill("#id_username", "parent@example.fr")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_url}/")
    taps = 0

    def tap(locator) -> None:
        nonlocal taps
        locator.click()
        page.wait_for_load_state()
        taps += 1

    # when the parent goes to next week, books each child's week in each commune, validates
    tap(page.get_by_role("link", name="Réservations", exact=True))
    tap(page.get_by_role("link", name="Suivante"))
    week_buttons = page.get_by_role("button", name="Réserver la semaine")
    while week_buttons.count():
        tap(week_buttons.first)
    tap(page.get_by_role("link", name="Panier", exact=True))
    tap(page.get_by_role("button", name="Valider"))
    page.wait_for_url(f"{live_url}/panier/valide/")

    # then every school day of next week is booked, for both children, in both communes
    monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    expected = sorted(monday + dt.timedelta(days=day) for day in SCHOOL_DAYS)
    for commune in (jolieville, demo):
        with commune_context(commune):
            for child in family.children.all():
                booked = Booking.objects.filter(child=child, status="confirmed").order_by("date")
                assert [b.date for b in booked] == expected, (commune.slug, child.first_name)
    assert taps == MOST_TAPS
