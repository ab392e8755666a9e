"""Online payments against the fake Mollie server on loopback."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.test import TestCase

from billing import payments, services
from billing.crypto import encrypt_secret
from billing.fake_mollie import OTHER_TEST_KEY, TEST_KEY
from billing.gateway import MollieGateway, ProviderRefused
from billing.models import Invoice, Payment, PaymentAttempt, PaymentEvent, Regie
from foyer.errors import FoyerError
from reservations import services as reservation_services
from reservations.models import Booking
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue


def _online(commune, key=TEST_KEY):
    with commune_context(commune):
        services.get_regie()
        Regie.objects.update(
            online_payment=True, mollie_key_encrypted=encrypt_secret(key), mollie_mode="test"
        )


@pytest.fixture
def invoice(commune_a, mollie):
    """An issued invoice of 12,15 € for a family of JolieVille, which takes online payments."""
    _online(commune_a)
    canteen = make_catalogue(commune_a)
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    with commune_context(commune_a):
        for day in (4, 5, 7):
            Booking.objects.create(
                child=family.children.get(),
                family=family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=dt.date(2027, 1, day),
                status="confirmed",
                price=Decimal("4.05"),
            )
        run = services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        services.issue_invoicing_run(run_id=run.pk)
        return Invoice.objects.get()


def _pay(client, commune, invoice):
    account = invoice.family.guardians.get().account
    client.force_login(account)
    return client.post("/factures/payer/", {"invoices": [f"{commune.slug}:{invoice.pk}"]})


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _webhook(client, commune, attempt):
    # The webhook queues the re-fetch through the outbox: run it as the commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            commune_path(commune, f"paiement/webhook/{attempt.webhook_token}/"), {"id": attempt.provider_id}
        )


def test_paying_an_invoice_end_to_end(client, commune_a, invoice, mollie):
    # when the family starts the checkout
    response = _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
    # then the attempt was stored with its key, and the family goes to the provider's page
    assert response.status_code == 302 and response["Location"] == attempt.checkout_url
    assert response["Location"].startswith(mollie.url)
    created = mollie.payment(attempt.provider_id)
    assert created["amount"] == {"currency": "EUR", "value": "12.15"}
    assert created["metadata"] == {
        "attempt": attempt.pk,
        "commune": "c_jolieville",
        "regie": attempt.regie_id,
    }
    assert (
        created["webhookUrl"] == f"http://testserver/c/jolieville/paiement/webhook/{attempt.webhook_token}/"
    )
    # when the provider says "paid" (webhook, then the family comes back)
    mollie.set_status(attempt.provider_id, "paid", webhook=False)
    assert _webhook(client, commune_a, attempt).status_code == 200
    page = client.get(commune_path(commune_a, f"paiement/{attempt.pk}/retour/")).content.decode()
    # then the invoice is paid once, and the page says so
    assert "Merci, votre paiement est reçu" in page
    with commune_context(commune_a):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.paid_amount) == ("paid", Decimal("12.15"))
        assert Payment.objects.get().method == "online"
        assert list(PaymentEvent.objects.values_list("source", "provider_status")) == [
            ("create", "open"),
            ("webhook", "paid"),
        ]


def test_duplicate_webhooks_and_the_return_page_pay_once(client, commune_a, invoice, mollie):
    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
    mollie.set_status(attempt.provider_id, "paid", webhook=False)
    client.get(commune_path(commune_a, f"paiement/{attempt.pk}/retour/"))
    for _ in range(3):
        assert _webhook(client, commune_a, attempt).status_code == 200
    with commune_context(commune_a):
        assert Payment.objects.count() == 1
        invoice.refresh_from_db()
        assert invoice.paid_amount == Decimal("12.15")


def test_unknown_webhooks_are_answered_200_and_ignored(client, commune_a, invoice, mollie):
    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
    mollie.set_status(attempt.provider_id, "paid", webhook=False)
    assert (
        client.post(
            commune_path(commune_a, "paiement/webhook/nope/"), {"id": attempt.provider_id}
        ).status_code
        == 200
    )
    bad_id = client.post(
        commune_path(commune_a, f"paiement/webhook/{attempt.webhook_token}/"), {"id": "tr_other"}
    )
    assert bad_id.status_code == 200
    # another commune's webhook address does not know this attempt
    assert (
        client.post(
            f"/c/demo/paiement/webhook/{attempt.webhook_token}/", {"id": attempt.provider_id}
        ).status_code
        == 200
    )
    with commune_context(commune_a):
        assert not Payment.objects.exists()
        assert PaymentAttempt.objects.get().status == "open"


def test_a_network_failure_on_create_then_a_retry_makes_one_payment(client, commune_a, invoice, mollie):
    # the provider creates the payment, then the connection drops before the answer
    mollie.inject_fault("drop_after_create", method="POST", path="/v2/payments", count=1)
    response = _pay(client, commune_a, invoice)
    assert response.status_code == 302 and response["Location"].startswith("/paiements/")
    page = page_text(client.get(response["Location"]))
    assert "Le service de paiement ne répond pas" in page and "vous ne serez pas débité deux fois" in page
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
        assert (attempt.status, attempt.provider_id) == ("created", None)
    # the family tries again: same attempt, same idempotency key, the provider replays
    response = _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
    assert response["Location"] == attempt.checkout_url
    assert len(mollie.payments) == 1


def test_a_payment_whose_binding_does_not_match_is_flagged_not_applied(client, commune_a, invoice, mollie):
    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
    mollie.override(attempt.provider_id, amount={"currency": "EUR", "value": "1.00"})
    mollie.set_status(attempt.provider_id, "paid", webhook=False)
    _webhook(client, commune_a, attempt)
    with commune_context(commune_a):
        attempt.refresh_from_db()
        assert attempt.flagged == "montant différent (1.00)"
        assert not Payment.objects.exists()


def test_one_communes_key_cannot_read_anothers_payment(mollie):
    mine = MollieGateway(TEST_KEY)
    theirs = MollieGateway(OTHER_TEST_KEY)
    payment = mine.create_payment(
        amount=Decimal("5.00"),
        description="x",
        redirect_url="http://testserver/",
        webhook_url="http://testserver/",
        metadata={},
        idempotency_key="k1",
    )
    with pytest.raises(ProviderRefused):
        theirs.get_payment(payment.id)


def test_a_paid_cart_confirms_and_a_late_payment_is_flagged(client, commune_a, mollie):
    _online(commune_a)
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", price="12.00")
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    enrol(leisure, family.children.get())
    account = family.guardians.get().account
    with commune_context(commune_a):
        reservation_services.add_to_cart(
            family=family,
            account=account,
            child_id=family.children.get().pk,
            prestation_id=leisure.prestation.pk,
            site_id=leisure.site.pk,
            day=MONDAY + dt.timedelta(days=2),
            now=at(MONDAY, 8),
        )
    checkout = reservation_services.validate_carts(
        communes=[commune_a], family_ids=[family.pk], account=account, now=at(MONDAY, 8)
    )[0]
    client.force_login(account)
    response = client.post(commune_path(commune_a, f"panier/{checkout.cart.pk}/paiement/"))
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
        assert response["Location"] == attempt.checkout_url
        # the hold expires before the bank confirms...
        reservation_services.expire_holds(now=at(MONDAY, 9))
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        attempt.refresh_from_db()
        # ...the payment is accepted and flagged for an agent (refund or re-booking)
        assert attempt.status == "paid"
        assert attempt.flagged == "trop-perçu de 12.00 € à rembourser"
        assert Booking.objects.get().status == "cancelled"


def test_a_failed_cart_payment_keeps_the_hold_for_a_retry_until_it_expires(
    client, commune_a, mollie, django_capture_on_commit_callbacks
):
    _online(commune_a)
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", price="12.00", capacity=1)
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    enrol(leisure, family.children.get())
    account = family.guardians.get().account
    with commune_context(commune_a):
        reservation_services.add_to_cart(
            family=family,
            account=account,
            child_id=family.children.get().pk,
            prestation_id=leisure.prestation.pk,
            site_id=leisure.site.pk,
            day=MONDAY + dt.timedelta(days=2),
            now=at(MONDAY, 8),
        )
    checkout = reservation_services.validate_carts(
        communes=[commune_a], family_ids=[family.pk], account=account, now=at(MONDAY, 8)
    )[0]
    with commune_context(commune_a):
        attempt = payments.start_cart_checkout(
            family_ids=[family.pk], account=account, cart_id=checkout.cart.pk
        )
        mollie.set_status(attempt.provider_id, "failed", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="return")
        from reservations.models import Slot

        # the place is still held: the family may try again
        assert (Booking.objects.get().status, Slot.objects.get().taken) == ("held", 1)
        retry = payments.start_cart_checkout(
            family_ids=[family.pk], account=account, cart_id=checkout.cart.pk
        )
        assert retry.pk != attempt.pk and retry.amount == attempt.amount
        # freed only when the hold expires unpaid
        reservation_services.expire_holds(now=Booking.objects.get().hold_expires_at)
        assert (Booking.objects.get().status, Slot.objects.get().taken) == ("cancelled", 0)


def test_refunds_carry_idempotency_and_cannot_exceed_what_was_paid(client, commune_a, invoice, mollie):
    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        refund = payments.refund_attempt(attempt_id=attempt.pk, amount=Decimal("5.00"), reason="erreur")
        assert refund.provider_id.startswith("re_")
        with pytest.raises(FoyerError):
            payments.refund_attempt(attempt_id=attempt.pk, amount=Decimal("7.16"), reason="trop")
        payments.sync_attempt(attempt_id=attempt.pk, source="reconcile")
        attempt.refresh_from_db()
        assert attempt.amount_refunded == Decimal("5.00")


def test_concurrent_webhooks_and_return_page_pay_the_invoice_once(committed_db, fake_mollie, settings):
    import threading

    from django.db import connections

    from tenants.models import Commune

    settings.MOLLIE_API_ENDPOINT = fake_mollie.base_url
    commune = Commune.objects.get(slug="jolieville")
    _online(commune)
    canteen = make_catalogue(commune)
    family = family_in(commune, "parent@example.fr").family
    with commune_context(commune):
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
        invoice = Invoice.objects.get()
        attempt = payments.start_invoice_checkout(
            family_ids=[family.pk], account=family.guardians.get().account, invoice_ids=[invoice.pk]
        )
    fake_mollie.set_status(attempt.provider_id, "paid", webhook=False)
    barrier = threading.Barrier(6)

    def deliver(source):
        try:
            with commune_context(commune):
                barrier.wait()
                payments.sync_attempt(attempt_id=attempt.pk, source=source)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(s,)) for s in ["webhook"] * 5 + ["return"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with commune_context(commune):
        assert Payment.objects.count() == 1
        invoice.refresh_from_db()
        assert (invoice.status, invoice.paid_amount) == ("paid", Decimal("4.05"))
        assert PaymentEvent.objects.filter(provider_status="paid").count() == 6


def test_agents_see_flagged_payments_first_and_admins_refund(client, commune_a, invoice, mollie):
    from shared_identity.models import StaffRole
    from tests.conftest import make_staff

    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            flagged="rejet de paiement (chargeback) de 12.15 €"
        )
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    page = client.get(commune_path(commune_a, "console/facturation/paiements-en-ligne/")).content.decode()
    assert "rejet de paiement (chargeback)" in page and "Rembourser" not in page
    url = commune_path(commune_a, f"console/facturation/paiements-en-ligne/{attempt.pk}/remboursement/")
    assert client.post(url, {"amount": "5,00", "reason": "erreur"}).status_code == 403
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    assert client.post(url, {"amount": "5,00", "reason": "erreur"}).status_code == 302
    with commune_context(commune_a):
        assert attempt.refunds.get().amount == Decimal("5.00")
    other_commune = make_staff(commune_a.__class__.objects.get(slug="demo"), "agent@demo.test")
    client.force_login(other_commune)
    assert client.get(commune_path(commune_a, "console/facturation/paiements-en-ligne/")).status_code == 404


def test_an_avoir_on_an_invoice_paid_online_is_refunded_instead_of_deducted(
    client, commune_a, invoice, mollie
):
    _pay(client, commune_a, invoice)
    with commune_context(commune_a):
        attempt = PaymentAttempt.objects.get()
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        note = services.issue_credit_note(
            invoice_id=invoice.pk, amount=Decimal("4.05"), reason="repas non servi"
        )
        refund = payments.refund_credit_note(credit_note_id=note.pk)
        note.refresh_from_db()
        assert (note.refund_id, refund.amount) == (refund.pk, Decimal("4.05"))
        assert mollie.payment(attempt.provider_id)["amountRefunded"]["value"] == "4.05"
        with pytest.raises(FoyerError, match="déjà déduit ou remboursé"):
            payments.refund_credit_note(credit_note_id=note.pk)
        # a refunded avoir is not deducted again from the next invoice
        from billing.models import CreditNote

        assert not CreditNote.objects.filter(applied_at__isnull=True, refund__isnull=True).exists()
