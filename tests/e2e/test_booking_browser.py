"""In Chromium: a parent books a meal from the week view and validates the cart; axe-core
finds no serious or critical violation on the week, period and cart pages."""

from __future__ import annotations

import datetime as dt

import pytest

from reservations.models import Booking
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import PASSWORD
from tests.e2e.conftest import axe_violations
from tests.reservations.conftest import enrol, family_in, make_catalogue

pytestmark = pytest.mark.browser


def test_parent_books_a_meal_and_validates(live_url, browser):
    # given a family of JolieVille whose child is enrolled at the canteen
    commune = Commune.objects.get(slug="jolieville")
    canteen = make_catalogue(commune)
    membership = family_in(commune, "parent@example.fr")
    enrol(canteen, membership.family.children.get())
    monday = dt.date.today() + dt.timedelta(days=14 - dt.date.today().weekday())
    page = browser.new_context(viewport={"width": 375, "height": 900}).new_page()
    page.goto(f"{live_url}/connexion/")
    page.fill("#id_username", "parent@example.fr")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()

    # when the parent books Thursday from the week view and validates the cart
    page.goto(f"{live_url}/reservations/?semaine={monday.isoformat()}")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Réserver Léa Prestation REPAS jeudi").click()
    # (the button's form is its row's; the browser comes back on the day tapped, whose slot
    # now says it is in the cart)
    thursday = (monday + dt.timedelta(days=3)).strftime("%Y%m%d")
    page.wait_for_url(f"**/reservations/?semaine={monday.isoformat()}#l-*-{thursday}")
    slot = page.locator(page.url[page.url.index("#") :])
    assert "Dans le panier" in slot.inner_text()
    assert slot.get_by_role("button", name="Retirer").is_visible()
    page.goto(f"{live_url}/panier/")
    assert "4,05" in page.content()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(f"{live_url}/panier/valide/")
    page.goto(f"{live_url}/reservations/periode/")
    assert axe_violations(page) == []

    # then the meal is booked
    with commune_context(commune):
        booking = Booking.objects.get()
    assert (booking.status, booking.date) == ("confirmed", monday + dt.timedelta(days=3))
