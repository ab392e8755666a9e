"""In Chromium, at the fake Mollie on loopback: a parent signs a direct-debit mandate from
"Mes factures" through the fake checkout; the next invoice is debited on its due date (the test
moves the clock: the collection runs with ``today=`` the due date); a second invoice's debit
fails and is back "à payer", with an e-mail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone

from billing import direct_debit, services
from billing.crypto import encrypt_secret
from billing.fake_mollie import TEST_KEY, FakeMollie
from billing.models import DebitMandate, DirectDebit, Invoice, Regie, default_regie_id
from reservations.models import Booking
from tenants.context import commune_context
from tenants.models import Commune
from tests.e2e.conftest import axe_violations
from tests.e2e.test_payment_browser import _sign_in
from tests.reservations.conftest import family_in, make_catalogue

pytestmark = pytest.mark.browser


def _issue(catalogue, family, month: dt.date) -> Invoice:
    with commune_context(catalogue.commune):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=catalogue.prestation,
            site=catalogue.site,
            date=month.replace(day=4),
            status="confirmed",
            price=catalogue.prestation.base_price,
        )
        run = services.prepare_invoicing_run(month=month)
        # issued on the first day of the next month, as the monthly run does
        issued = (month + dt.timedelta(days=32)).replace(day=1)
        services.issue_invoicing_run(
            run_id=run.pk, now=timezone.make_aware(dt.datetime.combine(issued, dt.time(9)))
        )
        return run.invoices.get()


def _collect_on(commune, invoice: Invoice) -> str:
    """The morning's collection on the invoice's due date (the day before, nothing is sent):
    the id of the payment it made at the fake Mollie."""
    with commune_context(commune):
        assert direct_debit.collect_due_debits(today=invoice.due_date - dt.timedelta(days=1)) == 0
        assert direct_debit.collect_due_debits(today=invoice.due_date) == 1
        return DirectDebit.objects.select_related("attempt").get(invoice=invoice).attempt.provider_id


def test_a_family_signs_a_mandate_and_its_invoices_are_debited_on_their_due_date(live_url, browser, settings):
    with FakeMollie("127.0.0.1", 0) as mollie:
        mollie.add_account(TEST_KEY, "JolieVille – Restauration scolaire")
        settings.MOLLIE_API_ENDPOINT = mollie.base_url
        settings.FOYER_BASE_URL = live_url
        jolieville = Commune.objects.get(slug="jolieville")
        family = family_in(jolieville, "parent@example.fr").family
        canteen = make_catalogue(jolieville, code="REPAS")
        with commune_context(jolieville):
            Regie.objects.filter(pk=default_regie_id()).update(
                name="Restauration scolaire",
                online_payment=True,
                mollie_key_encrypted=encrypt_secret(TEST_KEY),
                mollie_mode="test",
                direct_debit_enabled=True,
            )

        # the parent opts in from "Mes factures"
        page = _sign_in(browser, live_url)
        page.goto(f"{live_url}/factures/")
        assert axe_violations(page) == []
        page.get_by_role("link", name=re.compile("Activer le prélèvement automatique")).click()
        page.wait_for_url("**/prelevement/*/")
        assert axe_violations(page) == []
        page.get_by_label(re.compile("J'autorise la régie")).check()
        page.get_by_role("button", name="Signer le mandat").click()
        # … and pays the 0,01 € verification at the checkout
        page.wait_for_url("**/checkout/**")
        assert "0,01" in page.content()
        page.get_by_role("button", name="Payé").click()
        page.wait_for_url("**/factures/")
        assert "Prélèvement automatique activé (compte •••• 0189)" in page.content()
        assert "actif sur le compte •••• 0189" in page.content()
        assert axe_violations(page) == []
        with commune_context(jolieville):
            assert DebitMandate.objects.get().status == "valid"

        # the next invoicing run: the invoice will be debited on its due date
        mail.outbox.clear()
        january = _issue(canteen, family, dt.date(2027, 1, 1))
        assert "sera prélevée le" in mail.outbox[-1].body
        page.goto(f"{live_url}/factures/")
        due = f"sera prélevée le {january.due_date.day} "
        assert (
            due
            in page.locator("section", has=page.get_by_role("heading", name="Factures à payer")).inner_text()
        )
        assert page.locator(f'input[value="jolieville:{january.pk}"]').count() == 0
        assert axe_violations(page) == []

        # the due date comes: one debit, which the bank pays (its webhook reaches the server)
        payment_id = _collect_on(jolieville, january)
        page.reload()
        assert "prélèvement en cours" in page.content()
        mollie.set_status(payment_id, "paid")
        page.reload()
        paid = page.locator("section", has=page.get_by_role("heading", name="Factures payées")).inner_text()
        assert january.reference in paid
        with commune_context(jolieville):
            january.refresh_from_db()
            assert (january.status, january.paid_amount) == ("paid", canteen.prestation.base_price)

        # a second invoice: its debit fails; the invoice is back "à payer", with an e-mail
        february = _issue(canteen, family, dt.date(2027, 2, 1))
        mail.outbox.clear()
        payment_id = _collect_on(jolieville, february)
        mollie.set_status(payment_id, "failed")
        page.reload()
        to_pay = page.locator(
            "section", has=page.get_by_role("heading", name="Factures à payer")
        ).inner_text()
        assert february.reference in to_pay and "le prélèvement n'a pas abouti" in to_pay
        assert page.locator(f'input[value="jolieville:{february.pk}"]').count() == 1
        assert axe_violations(page) == []
        [message] = [m for m in mail.outbox if "n'a pas abouti" in m.subject]
        assert february.reference in message.body and message.to == ["parent@example.fr"]
        with commune_context(jolieville):
            february.refresh_from_db()
            assert (february.status, february.paid_amount) == ("issued", 0)
        # and no invoice was ever debited twice
        assert len([p for p in mollie.payments.values() if p["sequenceType"] == "recurring"]) == 2

        # the parent stops the direct debit (with a confirmation)
        page.get_by_role("link", name=re.compile("^Arrêter")).click()
        assert axe_violations(page) == []
        page.get_by_role("button", name="Oui, arrêter le prélèvement").click()
        page.wait_for_url("**/factures/")
        assert "Prélèvement automatique arrêté" in page.content()
        assert "Activer le prélèvement automatique" in page.content()
