"""In Chromium, at the fake Mollie on loopback (one account per régie):

* a parent pays invoices of two régies of one commune and one of another in one go — one
  checkout per régie, chained; a cancelled checkout is retried; nothing is charged twice;
* a prepaid cart goes straight to the checkout when validated; a failed payment keeps the
  places held for "Réessayer le paiement"; a hold that expires unpaid frees them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing.crypto import encrypt_secret
from billing.fake_mollie import OTHER_TEST_KEY, TEST_KEY, FakeMollie
from billing.models import Invoice, PaymentAttempt, Receipt, Regie, default_regie_id
from reservations import services as reservation_services
from reservations.models import Booking, Service, Slot
from tenants.context import commune_context
from tenants.models import Commune
from tests.billing.conftest import issue_january
from tests.conftest import PASSWORD
from tests.e2e.conftest import axe_violations
from tests.reservations.conftest import enrol, family_in, make_catalogue

pytestmark = pytest.mark.browser

DEMO_KEY = "test_FoyerFakeMollieDemoKey00000000000003"


def _online(regie_id: int, key: str, **fields) -> None:
    Regie.objects.filter(pk=regie_id).update(
        online_payment=True, mollie_key_encrypted=encrypt_secret(key), mollie_mode="test", **fields
    )


def _sign_in(browser, live_url, email="parent@example.fr"):
    page = browser.new_page()
    page.goto(f"{live_url}/connexion/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    return page


def _checkout(page, choice: str) -> None:
    """At the fake Mollie's checkout page: Payé / Échoué / Annulé / Expiré."""
    page.wait_for_url("**/checkout/**")
    page.get_by_role("button", name=choice).click()
    page.wait_for_url("**/retour/")


def test_invoices_of_three_regies_in_two_communes_are_paid_one_checkout_after_the_other(
    live_url, browser, settings
):
    with FakeMollie("127.0.0.1", 0) as mollie:
        mollie.add_account(TEST_KEY, "JolieVille – Restauration scolaire")
        mollie.add_account(OTHER_TEST_KEY, "JolieVille – Service périscolaire")
        mollie.add_account(DEMO_KEY, "Collectivité Démo – Régie principale")
        settings.MOLLIE_API_ENDPOINT = mollie.base_url
        settings.FOYER_BASE_URL = live_url
        jolieville = Commune.objects.get(slug="jolieville")
        demo = Commune.objects.get(slug="demo")
        family = family_in(jolieville, "parent@example.fr").family
        family.memberships.create(commune=demo, dossier_number="B-1", status="active")
        canteen = make_catalogue(jolieville, code="REPAS")
        peri = make_catalogue(jolieville, code="PERI", price="6.00")
        demo_canteen = make_catalogue(demo, code="CANT", price="3.20")
        with commune_context(jolieville):
            _online(default_regie_id(), TEST_KEY, name="Restauration scolaire", regie_code="CA")
            a4 = Regie.objects.create(name="Service périscolaire", regie_code="A4")
            _online(a4.pk, OTHER_TEST_KEY)
            Service.objects.filter(pk=peri.service.pk).update(regie=a4)
            peri.service.regie_id = a4.pk
        with commune_context(demo):
            _online(default_regie_id(), DEMO_KEY)
        for catalogue in (canteen, peri, demo_canteen):
            issue_january(catalogue, family)
        mail.outbox.clear()

        page = _sign_in(browser, live_url)
        page.goto(f"{live_url}/factures/")
        assert axe_violations(page) == []
        for heading in (
            "Commune de JolieVille – Restauration scolaire",
            "Commune de JolieVille – Service périscolaire",
            "Collectivité Démo – Régie principale",
        ):
            assert page.get_by_role("heading", name=heading).count() == 1
        assert "13,25" in page.locator("#amount-to-pay").inner_text()
        page.get_by_role("button", name="Payer les factures sélectionnées").click()

        # 1. the first checkout starts at once: Collectivité Démo, paid
        _checkout(page, "Payé")
        assert "Merci, votre paiement est reçu" in page.content()
        assert axe_violations(page) == []
        # 2. continue with the next régie; the parent cancels at the checkout
        page.get_by_role(
            "button", name="Continuer : payer Commune de JolieVille – Restauration scolaire"
        ).click()
        _checkout(page, "Annulé")
        assert "Le paiement n'a pas abouti" in page.content()
        # 3. … and tries again: paid
        page.get_by_role("button", name="Réessayer le paiement").click()
        _checkout(page, "Payé")
        assert "Merci, votre paiement est reçu" in page.content()
        # 4. the last régie
        page.get_by_role(
            "button", name="Continuer : payer Commune de JolieVille – Service périscolaire"
        ).click()
        _checkout(page, "Payé")
        assert "Merci, votre paiement est reçu" in page.content()
        assert page.get_by_role("button", name="Continuer").count() == 0
        page.goto(f"{live_url}/factures/")
        assert "Aucune facture à payer." in page.content()
        assert "Paiements à terminer" not in page.content()
        charged = [p for p in mollie.payments.values() if p["status"] == "paid"]

    for commune in (jolieville, demo):
        with commune_context(commune):
            assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}
            for attempt in PaymentAttempt.objects.filter(status="paid"):
                assert attempt.amount == sum(i.total for i in attempt.invoices.all())
    # nothing charged twice: one paid payment per invoice at the provider, for its amount
    assert sorted(Decimal(p["amount"]["value"]) for p in charged) == [
        Decimal("3.20"),
        Decimal("4.05"),
        Decimal("6.00"),
    ]
    receipts = [m for m in mail.outbox if "reçu de paiement" in m.subject]
    assert len(receipts) == 3


def test_a_prepaid_cart_goes_to_the_checkout_and_a_failed_payment_keeps_the_places(
    live_url, browser, settings
):
    with FakeMollie("127.0.0.1", 0) as mollie:
        mollie.add_account(TEST_KEY, "JolieVille")
        settings.MOLLIE_API_ENDPOINT = mollie.base_url
        settings.FOYER_BASE_URL = live_url
        jolieville = Commune.objects.get(slug="jolieville")
        family = family_in(jolieville, "parent@example.fr").family
        child = family.children.get()
        account = family.guardians.get().account
        leisure = make_catalogue(jolieville, code="MERJ", billing_mode="prepaid", price="12.00", capacity=1)
        enrol(leisure, child)
        day = timezone.localdate() + dt.timedelta(days=7)
        day += dt.timedelta(days=(7 - day.weekday()) % 7)  # a Monday, well before any deadline
        with commune_context(jolieville):
            _online(default_regie_id(), TEST_KEY)
            reservation_services.add_to_cart(
                family=family,
                account=account,
                child_id=child.pk,
                prestation_id=leisure.prestation.pk,
                site_id=leisure.site.pk,
                day=day,
            )

        page = _sign_in(browser, live_url)
        page.goto(f"{live_url}/panier/")
        page.get_by_role("button", name="Valider").first.click()
        # straight to the checkout; the payment fails
        _checkout(page, "Échoué")
        assert "Le paiement n'a pas abouti" in page.content()
        assert "La place réservée reste gardée jusqu'au" in page.content()
        with commune_context(jolieville):
            assert (Booking.objects.get().status, Slot.objects.get().taken) == ("held", 1)
        # the week offers to pay again on the held day
        page.goto(f"{live_url}/reservations/?semaine={day.isoformat()}")
        assert page.get_by_role("button", name="Réessayer le paiement").count() >= 1
        page.goto(f"{live_url}/")
        page.get_by_role("button", name="Réessayer le paiement").first.click()
        _checkout(page, "Payé")
        assert "Merci, votre paiement est reçu" in page.content()
        with commune_context(jolieville):
            assert (Booking.objects.get().status, Slot.objects.get().taken) == ("confirmed", 1)
            assert Receipt.objects.get().amount == Decimal("12.00")

        # another cart, left unpaid: its place is freed when the hold expires, and the family told
        with commune_context(jolieville):
            Booking.objects.update(status="cancelled")
            Slot.objects.update(taken=0)
            reservation_services.add_to_cart(
                family=family,
                account=account,
                child_id=child.pk,
                prestation_id=leisure.prestation.pk,
                site_id=leisure.site.pk,
                day=day + dt.timedelta(days=1),
            )
        page.goto(f"{live_url}/panier/")
        page.get_by_role("button", name="Valider").first.click()
        _checkout(page, "Échoué")
        mail.outbox.clear()
        with commune_context(jolieville):
            held = Booking.objects.get(status="held")
            reservation_services.expire_holds(now=held.hold_expires_at + dt.timedelta(seconds=1))
            held.refresh_from_db()
            assert held.status == "cancelled"
            assert Slot.objects.get(date=held.date).taken == 0
        assert [m.to for m in mail.outbox] == [[account.email]]
