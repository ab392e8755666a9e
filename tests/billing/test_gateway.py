"""MollieGateway against the fake Mollie, which knows only the accounts it was given: a key
Mollie refuses and another account's payment are refusals, never "try again later"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from mollie.api.error import NotFoundError, UnauthorizedError

from billing.fake_mollie import LIVE_KEY, OTHER_TEST_KEY, TEST_KEY
from billing.gateway import MollieGateway, ProviderRefused, ProviderUnavailable

# Well formed, but no account of the fake has it.
UNKNOWN_KEY = "test_FoyerFakeMollieUnknownKey000000001"


def create(gateway: MollieGateway, key: str = "attempt-1"):
    return gateway.create_payment(
        amount=Decimal("12.15"),
        description="Facture 2027-CA-00-154",
        redirect_url="http://testserver/retour/",
        webhook_url="http://testserver/paiements/webhook/",
        metadata={"attempt": 1},
        idempotency_key=key,
    )


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY])
def test_the_key_of_a_known_account_passes_the_check(mollie, key):
    MollieGateway(key).check_key()
    assert [(r["api_key"], r["status"]) for r in mollie.requests] == [(key, 200)]


def test_an_unknown_key_is_refused_not_unavailable(mollie):
    # given
    gateway = MollieGateway(UNKNOWN_KEY)
    # when Mollie answers 401, mollie-api-python raises UnauthorizedError
    with pytest.raises(ProviderRefused) as error:
        gateway.check_key()
    # then
    assert isinstance(error.value.__cause__, UnauthorizedError)
    assert error.value.__cause__.status == 401
    assert str(error.value) == "Missing authentication, or failed to authenticate"
    with pytest.raises(ProviderRefused):
        create(gateway)
    with pytest.raises(ProviderRefused):
        gateway.get_payment("tr_doesnotexist")
    assert mollie.payments == {}
    assert {r["status"] for r in mollie.requests} == {401}


def test_mollie_failing_is_unavailable_not_refused(mollie):
    mollie.inject_fault("status 503", method="GET", path="/v2/payments")
    with pytest.raises(ProviderUnavailable):
        MollieGateway(TEST_KEY).check_key()


def test_one_accounts_payment_cannot_be_read_nor_refunded_with_another_accounts_key(mollie):
    # given a paid payment made with account A's key
    mine, theirs = MollieGateway(TEST_KEY), MollieGateway(OTHER_TEST_KEY)
    payment = create(mine)
    mollie.set_status(payment.id, "paid", webhook=False)
    # when account B reads or refunds it, then Mollie answers 404: a refusal
    with pytest.raises(ProviderRefused) as error:
        theirs.get_payment(payment.id)
    assert isinstance(error.value.__cause__, NotFoundError)
    assert str(error.value) == f"No payment exists with token {payment.id}."
    with pytest.raises(ProviderRefused):
        theirs.refund(
            payment_id=payment.id, amount=Decimal("4.05"), description="Remboursement", idempotency_key="r-1"
        )
    # and nothing changed for account A
    again = mine.get_payment(payment.id)
    assert (again.status, again.amount, again.amount_refunded, again.mode) == (
        "paid",
        Decimal("12.15"),
        Decimal("0.00"),
        "test",
    )
