"""Online payments of a régie that collects through PayFiP (DGFiP), against the fake PayFiP
server on loopback: the same rules as Mollie's (tests/billing/test_payments.py)."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.test import TestCase
from django.utils import timezone

from billing import payments
from billing.console_services import save_regie
from billing.fake_mollie.server import _NoRedirect
from billing.fake_payfip import DEMO_NUMCLI, OTHER_NUMCLI
from billing.models import Payment, PaymentAttempt, PaymentEvent, Refund, Regie
from foyer.errors import FoyerError
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.billing.test_payments import _pay, invoice, page_text  # noqa: F401 (fixture)
from tests.conftest import commune_path, make_staff


@pytest.fixture
def payfip_invoice(invoice, commune_a, payfip):  # noqa: F811 (the fixture imported above)
    """The issued invoice of 12,15 €, its régie collecting through PayFiP in test mode."""
    with commune_context(commune_a):
        Regie.objects.update(payment_provider="payfip", payfip_numcli=DEMO_NUMCLI, payfip_saisie="T")
    return invoice


def _attempt(commune) -> PaymentAttempt:
    with commune_context(commune):
        return PaymentAttempt.objects.get()


def _notify(client, commune, attempt, idop=None):
    """PayFiP's server-to-server notification: ``idOp=…``, posted to the attempt's URL."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            commune_path(commune, f"paiement/webhook/{attempt.webhook_token}/"),
            {"idOp": idop or attempt.provider_id},
        )


def _return_page(client, commune, attempt) -> str:
    return page_text(client.get(commune_path(commune, f"paiement/{attempt.pk}/retour/")))


def test_paying_an_invoice_through_payfip_end_to_end(client, commune_a, payfip_invoice, payfip):
    # when the family starts the checkout
    response = _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    # then PayFiP was asked for an operation with the régie's client number, and the family goes there
    assert response.status_code == 302 and response["Location"] == attempt.checkout_url
    assert attempt.checkout_url == f"{payfip.base_url}/tpa/paiementws.web?idop={attempt.provider_id}"
    operation = payfip.operation(attempt.provider_id)
    assert (operation["numcli"], operation["saisie"], operation["montant"], operation["mel"]) == (
        DEMO_NUMCLI,
        "T",
        "1215",
        "parent@example.fr",
    )
    assert operation["refdet"] == f"F{attempt.pk}K{attempt.idempotency_key}"[:30]
    assert operation["urlnotif"] == (
        f"http://testserver/c/jolieville/paiement/webhook/{attempt.webhook_token}/"
    )
    assert operation["urlredirect"] == f"http://testserver/c/jolieville/paiement/{attempt.pk}/retour/"
    assert (attempt.status, attempt.mode) == ("open", "test")
    # when the family pays, PayFiP notifies, then the family comes back
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    assert _notify(client, commune_a, attempt).status_code == 200
    page = _return_page(client, commune_a, attempt)
    # then the invoice is paid once, and the page says so
    assert "Merci, votre paiement est reçu" in page
    with commune_context(commune_a):
        payfip_invoice.refresh_from_db()
        assert (payfip_invoice.status, payfip_invoice.paid_amount) == ("paid", Decimal("12.15"))
        assert Payment.objects.get().reference == attempt.provider_id
        assert list(PaymentEvent.objects.values_list("source", "provider_status")) == [
            ("create", "open"),
            ("webhook", "paid"),
        ]


def test_duplicate_notifications_and_the_return_page_pay_once(client, commune_a, payfip_invoice, payfip):
    # given a paid operation
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    # when the family comes back, then PayFiP notifies three times
    _return_page(client, commune_a, attempt)
    for _ in range(3):
        assert _notify(client, commune_a, attempt).status_code == 200
    # then one payment, one receipt
    with commune_context(commune_a):
        assert Payment.objects.count() == 1
        payfip_invoice.refresh_from_db()
        assert payfip_invoice.paid_amount == Decimal("12.15")
        assert PaymentAttempt.objects.get().receipt.amount == Decimal("12.15")


def test_the_return_before_the_notification_asks_payfip_and_pays(client, commune_a, payfip_invoice, payfip):
    # given a paid operation whose notification has not come
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    # when the family comes back first
    page = _return_page(client, commune_a, attempt)
    # then Foyer asked PayFiP itself
    assert "Merci, votre paiement est reçu" in page
    with commune_context(commune_a):
        assert list(PaymentEvent.objects.values_list("source", "provider_status")) == [
            ("create", "open"),
            ("return", "paid"),
        ]
        payfip_invoice.refresh_from_db()
        assert payfip_invoice.status == "paid"


def test_a_return_before_the_family_chose_leaves_the_invoice_to_pay(
    client, commune_a, payfip_invoice, payfip
):
    # given an operation the family has not paid (PayFiP answers P5)
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    # when the family comes back
    _return_page(client, commune_a, attempt)
    # then nothing is paid and the attempt stays open
    with commune_context(commune_a):
        assert PaymentAttempt.objects.get().status == "open"
        assert not Payment.objects.exists()


def test_an_amount_that_does_not_match_is_flagged_not_paid(client, commune_a, payfip_invoice, payfip):
    # given PayFiP reports 1,00 € paid for an attempt of 12,15 €
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    payfip.override(attempt.provider_id, montant="100")
    # when it notifies
    _notify(client, commune_a, attempt)
    # then the agent is told, and nothing is paid
    with commune_context(commune_a):
        attempt.refresh_from_db()
        assert (attempt.flagged, attempt.status) == ("montant différent (1.00)", "open")
        assert not Payment.objects.exists()


def test_an_operation_of_another_client_number_is_flagged_not_paid(client, commune_a, payfip_invoice, payfip):
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    payfip.override(attempt.provider_id, numcli=OTHER_NUMCLI)
    _notify(client, commune_a, attempt)
    with commune_context(commune_a):
        attempt.refresh_from_db()
        assert attempt.flagged == "paiement rattaché à une autre tentative"
        assert not Payment.objects.exists()


def test_unknown_notifications_are_answered_200_and_ignored(client, commune_a, payfip_invoice, payfip):
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    # a wrong token, another idOp, another commune's address
    assert (
        client.post(
            commune_path(commune_a, "paiement/webhook/nope/"), {"idOp": attempt.provider_id}
        ).status_code
        == 200
    )
    assert _notify(client, commune_a, attempt, idop="not-this-one").status_code == 200
    assert (
        client.post(
            f"/c/demo/paiement/webhook/{attempt.webhook_token}/", {"idOp": attempt.provider_id}
        ).status_code
        == 200
    )
    with commune_context(commune_a):
        assert not Payment.objects.exists()
        assert PaymentAttempt.objects.get().status == "open"


def test_a_refused_payment_fails_and_a_fresh_cancellation_waits(client, commune_a, payfip_invoice, payfip):
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    # a cancellation less than two minutes old: PayFiP may still take the payment (eopayment)
    payfip.set_result(attempt.provider_id, "canceled", notify=False)
    _notify(client, commune_a, attempt)
    assert _attempt(commune_a).status == "open"
    # older, it is a cancellation
    payfip.set_result(attempt.provider_id, "canceled", notify=False, minutes_ago=5)
    _notify(client, commune_a, attempt)
    assert _attempt(commune_a).status == "canceled"
    # a new checkout, refused by the bank
    _pay(client, commune_a, payfip_invoice)
    with commune_context(commune_a):
        retry = PaymentAttempt.objects.exclude(pk=attempt.pk).get()
    payfip.set_result(retry.provider_id, "refused", notify=False)
    _notify(client, commune_a, retry)
    with commune_context(commune_a):
        retry.refresh_from_db()
        payfip_invoice.refresh_from_db()
        assert (retry.status, payfip_invoice.status) == ("failed", "issued")


def test_an_operation_never_paid_expires_after_two_hours(client, commune_a, payfip_invoice, payfip):
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    with commune_context(commune_a):
        PaymentAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - dt.timedelta(hours=3))
        payments.sync_attempt(attempt_id=attempt.pk, source="reconcile")
        assert PaymentAttempt.objects.get().status == "expired"


def test_payfip_down_on_create_then_a_retry_pays_one_attempt(client, commune_a, payfip_invoice, payfip):
    # given PayFiP creates the operation, then the connection drops before the answer
    payfip.inject_fault("drop_after_create", operation="creerPaiementSecurise")
    response = _pay(client, commune_a, payfip_invoice)
    assert response.status_code == 302 and response["Location"].startswith("/paiements/")
    assert "Le service de paiement ne répond pas" in page_text(client.get(response["Location"]))
    attempt = _attempt(commune_a)
    assert (attempt.status, attempt.provider_id) == ("created", None)
    # when the family tries again
    response = _pay(client, commune_a, payfip_invoice)
    # then the same attempt gets an operation (PayFiP has no idempotency key: the lost one is
    # never shown to anybody and expires)
    attempt = _attempt(commune_a)
    assert response["Location"] == attempt.checkout_url
    assert len(payfip.operations) == 2


def test_payfip_unavailable_is_a_503_to_try_again(client, commune_a, payfip_invoice, payfip):
    payfip.inject_fault("status 503", operation="creerPaiementSecurise")
    response = _pay(client, commune_a, payfip_invoice)
    assert "Le service de paiement ne répond pas" in page_text(client.get(response["Location"]))
    assert payfip.operations == {}


def test_below_payfips_minimum_the_family_is_told_to_pay_at_the_counter(commune_a, payfip_invoice, payfip):
    with commune_context(commune_a):
        type(payfip_invoice).objects.filter(pk=payfip_invoice.pk).update(total=Decimal("0.80"))
        with pytest.raises(FoyerError, match="commence à 1,00"):
            payments.start_invoice_checkout(
                family_ids=[payfip_invoice.family_id],
                account=payfip_invoice.family.guardians.get().account,
                invoice_ids=[payfip_invoice.pk],
            )
    assert payfip.operations == {}


def test_a_payfip_refund_is_recorded_for_the_agent_to_make_outside_foyer(
    client, commune_a, payfip_invoice, payfip
):
    # given a payment made through PayFiP
    _pay(client, commune_a, payfip_invoice)
    attempt = _attempt(commune_a)
    payfip.set_result(attempt.provider_id, "paid", notify=False)
    _notify(client, commune_a, attempt)
    calls = len(payfip.requests)
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    listing = commune_path(commune_a, "console/facturation/paiements-en-ligne/")
    assert "PayFiP ne rembourse pas" in page_text(client.get(listing))
    # when the admin refunds 5 €
    response = client.post(f"{listing}{attempt.pk}/remboursement/", {"amount": "5,00", "reason": "erreur"})
    # then it is noted, with what to do, and PayFiP was not called
    assert response.status_code == 302
    page = page_text(client.get(response["Location"]))
    assert "Remboursement de 5,00\u00a0€ noté. PayFiP ne rembourse pas : la régie verse cette somme" in page
    assert len(payfip.requests) == calls
    with commune_context(commune_a):
        refund = Refund.objects.get()
        assert (refund.amount, refund.outside_provider, refund.provider_id) == (Decimal("5.00"), True, "")
        attempt.refresh_from_db()
        assert attempt.amount_refunded == Decimal("5.00")
        # PayFiP knows nothing of it: a later reading keeps Foyer's record
        payments.sync_attempt(attempt_id=attempt.pk, source="reconcile")
        attempt.refresh_from_db()
        assert attempt.amount_refunded == Decimal("5.00")
        # and never more than was paid
        with pytest.raises(FoyerError):
            payments.refund_attempt(attempt_id=attempt.pk, amount=Decimal("7.16"), reason="trop")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"payfip_numcli": "12345"}, "payfip_numcli", "Le numéro client PayFiP compte 6 chiffres."),
        ({"payfip_numcli": "12a456"}, "payfip_numcli", "Le numéro client PayFiP compte 6 chiffres."),
        (
            {"payfip_numcli": "999999"},
            "payfip_numcli",
            "PayFiP ne connaît pas ce numéro client : vérifiez-le sur la convention d'adhésion à PayFiP.",
        ),
        (
            {"payfip_numcli": ""},
            "payfip_numcli",
            "Indiquez le numéro client PayFiP de la régie pour activer le paiement en ligne.",
        ),
        ({"payfip_saisie": "Z"}, "payfip_saisie", "Z"),
    ],
)
def test_refused_payfip_settings_change_nothing(commune_a, payfip, changes, field, message):
    # given
    with commune_context(commune_a):
        regie = Regie.objects.get(pk=payments.default_regie_id())
        before = Regie.objects.values().get(pk=regie.pk)
        data = {
            "name": "Factures",
            "regie_code": "FC",
            "due_days": 30,
            "invoicing_day": 1,
            "online_payment": True,
            "payment_provider": "payfip",
            "payfip_numcli": DEMO_NUMCLI,
            "payfip_saisie": "T",
            **changes,
        }
        # when
        with pytest.raises(FoyerError) as refused:
            save_regie(regie_id=regie.pk, **data)
        # then
        assert any(message in error for error in refused.value.field_errors[field])
        assert Regie.objects.values().get(pk=regie.pk) == before


def test_admin_chooses_payfip_for_a_regie_in_the_console(client, commune_a, payfip):
    # given
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    with commune_context(commune_a):
        path = commune_path(commune_a, f"console/facturation/regies/{payments.default_regie_id()}/")
    form = page_text(client.get(path))
    assert "Numéro client PayFiP" in form and "Les 6 chiffres donnés par la DGFiP" in form
    # when
    response = client.post(
        path,
        {
            "name": "Factures",
            "regie_code": "fc",
            "source": "foyer",
            "due_days": "30",
            "invoicing_day": "1",
            "online_payment": "on",
            "payment_provider": "payfip",
            "payfip_numcli": DEMO_NUMCLI,
            "payfip_saisie": "W",
        },
    )
    # then
    assert response.status_code == 302
    assert "PayFiP, activé (mode Production)" in page_text(client.get(response["Location"]))
    with commune_context(commune_a):
        regie = Regie.objects.get(pk=payments.default_regie_id())
        assert (regie.payment_provider, regie.payfip_numcli, regie.payfip_saisie) == (
            "payfip",
            DEMO_NUMCLI,
            "W",
        )
        assert regie.mollie_key_encrypted == ""
    page = page_text(client.get(path))
    assert (
        f"Numéro client {DEMO_NUMCLI}, mode Production." in page
        and "Les paiements en ligne sont réels." in page
    )


def test_paying_through_the_fake_payfips_own_pages(client, commune_a, payfip_invoice, payfip):
    """End to end over HTTP: the SOAP calls, the checkout page and its buttons, the
    notification (handed to Django's test client) and the redirect back."""
    sent = []
    payfip.notification_sender = lambda url, data: sent.append((url, data)) or 200
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    # given the family sent to PayFiP
    checkout = _pay(client, commune_a, payfip_invoice)["Location"]
    attempt = _attempt(commune_a)
    # when it reads the checkout page
    with opener.open(checkout, timeout=5) as response:
        page = response.read().decode()
    # then it shows the amount and the three choices
    assert "12,15 €" in page and all(label in page for label in ("Payé", "Refusé", "Annulé"))
    # when it presses "Payé"
    form = urlencode({"idop": attempt.provider_id, "result": "paid"}).encode()
    try:
        opener.open(urllib.request.Request(f"{payfip.base_url}/tpa/paiementws.web", data=form), timeout=5)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as redirect:
        back = redirect.headers["Location"]
    # then PayFiP notifies Foyer and sends the family back
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [
        (
            f"http://testserver/c/jolieville/paiement/webhook/{attempt.webhook_token}/",
            {"idOp": attempt.provider_id},
        )
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(sent[0][0].removeprefix("http://testserver"), sent[0][1]).status_code == 200
    assert back == f"http://testserver/c/jolieville/paiement/{attempt.pk}/retour/"
    assert "Merci, votre paiement est reçu" in page_text(client.get(back.removeprefix("http://testserver")))
    with commune_context(commune_a):
        payfip_invoice.refresh_from_db()
        assert payfip_invoice.status == "paid"
        assert PaymentEvent.objects.filter(source="webhook", provider_status="paid").count() == 1
