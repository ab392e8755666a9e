"""In Chromium: a parent pays two invoices of two communes, one checkout per commune, at the
fake Mollie on loopback; the return page confirms without waiting for the webhook."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing import services
from billing.crypto import encrypt_secret
from billing.fake_mollie import TEST_KEY, FakeMollie
from billing.models import Invoice, Regie
from reservations.models import Booking
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import PASSWORD
from tests.e2e.conftest import axe_violations
from tests.reservations.conftest import family_in, make_catalogue

pytestmark = pytest.mark.browser


def _invoice(commune, family):
    canteen = make_catalogue(commune, code=f"R{commune.pk}")
    with commune_context(commune):
        services.get_regie()
        Regie.objects.update(online_payment=True, mollie_key_encrypted=encrypt_secret(TEST_KEY))
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=Decimal("4.05"),
        )
        run = services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        services.issue_invoicing_run(run_id=run.pk)


def test_parent_pays_invoices_of_two_communes(live_url, browser, settings):
    with FakeMollie("127.0.0.1", 0) as mollie:
        mollie.add_account(TEST_KEY, "Régies de JolieVille et de Collectivité Démo")
        settings.MOLLIE_API_ENDPOINT = mollie.base_url
        settings.FOYER_BASE_URL = live_url
        communes = list(Commune.objects.filter(slug__in=["jolieville", "demo"]).order_by("name"))
        membership = family_in(communes[0], "parent@example.fr")
        family = membership.family
        family.memberships.create(commune=communes[1], dossier_number="B-1", status="active")
        for commune in communes:
            _invoice(commune, family)
        page = browser.new_page()
        page.goto(f"{live_url}/connexion/")
        page.fill("#id_username", "parent@example.fr")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Se connecter").click()

        page.goto(f"{live_url}/factures/")
        assert axe_violations(page) == []
        assert "8,10" in page.locator("#amount-to-pay").inner_text()
        page.get_by_role("button", name="Payer les factures sélectionnées").click()
        assert "vous payez donc en 2 fois" in page.content()
        for _ in communes:
            page.get_by_role("button", name="Payer 4,05").first.click()
            page.get_by_role("button", name="Payé").click()
            page.wait_for_url("**/retour/")
            assert "Merci, votre paiement est reçu" in page.content()
            page.goto(f"{live_url}/factures/")
            if page.get_by_role("button", name="Payer les factures sélectionnées").count():
                page.get_by_role("button", name="Payer les factures sélectionnées").click()

    for commune in communes:
        with commune_context(commune):
            assert Invoice.objects.get().status == "paid"
