"""The fake Mollie, driven through the real mollie-api-python client and plain HTTP.
No database: plain test functions."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from mollie.api.error import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    RequestError,
    ResponseError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from mollie.api.objects.payment import Payment

from billing.fake_mollie import LIVE_KEY, OTHER_TEST_KEY, TEST_KEY, ApiError, FakeMollie, parse_form

ROOT = Path(__file__).resolve().parents[2]
# Well formed, but no account of the fake has it.
UNKNOWN_KEY = "test_FoyerFakeMollieUnknownKey000000001"
# What Mollie answers to a request without a key, or with a key it does not know.
UNAUTHORIZED = {
    "status": 401,
    "title": "Unauthorized Request",
    "detail": "Missing authentication, or failed to authenticate",
    "_links": {
        "documentation": {"href": "https://docs.mollie.com/overview/authentication", "type": "text/html"}
    },
}


def payment_data(**overrides):
    data = {
        "amount": {"currency": "EUR", "value": "10.00"},
        "description": "Facture 2027-0001",
        "redirectUrl": "https://foyer.test/retour",
        "metadata": {"invoice": 1, "commune": "jolieville"},
    }
    return {**data, **overrides}


def headers(key=TEST_KEY, **extra):
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **extra}


class Receiver:
    """A tiny webhook receiver on 127.0.0.1: records each POST, answers the next planned status."""

    def __init__(self, statuses=()):
        self.calls, self.statuses = [], list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.calls.append({"body": body, "content_type": self.headers["Content-Type"]})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/paiements/webhook/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def client(fake_mollie):
    return fake_mollie.new_client(TEST_KEY)


def paid_payment(fake, client, value="10.00"):
    payment = client.payments.create(payment_data(amount={"currency": "EUR", "value": value}))
    fake.set_status(payment.id, "paid", webhook=False)
    return payment


# --- create, auth, scoping -----------------------------------------------------------------


def test_create_answers_201_with_an_open_payment_linked_on_the_fake(fake_mollie, client):
    response = requests.post(f"{fake_mollie.api_url}/payments", json=payment_data(), headers=headers())
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/hal+json")
    body = response.json()
    assert body["id"].startswith("tr_") and body["resource"] == "payment"
    assert body["status"] == "open" and body["isCancelable"] is True and body["mode"] == "test"
    assert body["amount"] == {"currency": "EUR", "value": "10.00"}
    assert body["amountRefunded"] == {"currency": "EUR", "value": "0.00"}
    assert body["amountRemaining"] == {"currency": "EUR", "value": "10.00"}
    assert body["metadata"] == {"invoice": 1, "commune": "jolieville"}
    assert body["createdAt"] and body["expiresAt"] > body["createdAt"]
    assert set(body["_links"]) >= {"self", "checkout", "dashboard", "documentation"}
    assert all(link["href"].startswith(fake_mollie.url + "/") for link in body["_links"].values())

    payment = client.payments.create(payment_data(webhookUrl="http://127.0.0.1:9/webhook"))
    assert isinstance(payment, Payment) and payment.is_open() and not payment.is_paid()
    assert payment.checkout_url == f"{fake_mollie.url}/checkout/{payment.id}"
    assert payment.webhook_url == "http://127.0.0.1:9/webhook"
    assert client.payments.get(payment.id).description == "Facture 2027-0001"


def test_the_mode_and_the_profile_follow_the_key(fake_mollie, client):
    live = fake_mollie.new_client(LIVE_KEY).payments.create(payment_data())
    test = client.payments.create(payment_data())
    assert (live.mode, test.mode) == ("live", "test")
    accounts = fake_mollie.accounts
    assert live.profile_id == accounts[LIVE_KEY]["profileId"]
    assert test.profile_id == accounts[TEST_KEY]["profileId"] != live.profile_id


def test_the_client_sends_a_neutral_client_info_and_an_idempotency_key(fake_mollie, client):
    client.payments.create(payment_data(), idempotency_key="attempt-1")
    (entry,) = fake_mollie.requests
    assert entry["client_info"] == "Foyer" and entry["idempotency_key"] == "attempt-1"
    assert entry["api_key"] == TEST_KEY and entry["status"] == 201


@pytest.mark.parametrize("value", ["10", "10.0", "10.000", "0.00", "-1.00", "1,00", 10.0, 10, None])
def test_the_amount_value_must_be_a_positive_string_with_two_decimals(client, value):
    with pytest.raises(UnprocessableEntityError) as error:
        client.payments.create(payment_data(amount={"currency": "EUR", "value": value}))
    assert error.value.status == 422 and error.value.field == "amount.value"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": ""}, "description"),
        ({"description": None}, "description"),
        ({"redirectUrl": None}, "redirectUrl"),
        ({"amount": None}, "amount"),
        ({"amount": {"value": "10.00"}}, "amount.currency"),
        ({"webhookUrl": "pas une url"}, "webhookUrl"),
    ],
)
def test_required_fields_are_checked(client, change, field):
    with pytest.raises(UnprocessableEntityError) as error:
        client.payments.create(payment_data(**change))
    assert error.value.field == field


def test_a_form_body_is_accepted(fake_mollie):
    form = "amount[currency]=EUR&amount[value]=12.50&description=Cantine&redirectUrl=https://foyer.test/r"
    response = requests.post(
        f"{fake_mollie.api_url}/payments",
        data=form,
        headers={**headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    assert response.json()["amount"] == {"currency": "EUR", "value": "12.50"}
    assert parse_form("metadata[a][b]=1&x=") == {"metadata": {"a": {"b": "1"}}, "x": ""}


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer ",
        "Bearer test_short",
        "Bearer prod_" + "x" * 30,
        "Basic " + TEST_KEY,
        "Bearer " + UNKNOWN_KEY,
        "Bearer live_FoyerFakeMollieTestKey0000000001",  # TEST_KEY's characters, another account
    ],
)
def test_a_missing_malformed_or_unknown_key_is_mollies_401(fake_mollie, auth):
    # when
    response = requests.post(
        f"{fake_mollie.api_url}/payments",
        json=payment_data(),
        headers={"Authorization": auth, "Content-Type": "application/json"} if auth else {},
    )
    # then
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/hal+json")
    assert response.json() == UNAUTHORIZED
    assert fake_mollie.payments == {}
    (entry,) = fake_mollie.requests
    assert entry["status"] == 401


@pytest.mark.parametrize("key", ["test_tooshort", UNKNOWN_KEY])  # the client only checks ^(live|test)_\w+$
def test_the_client_raises_unauthorized_for_a_key_the_fake_refuses(fake_mollie, key):
    client = fake_mollie.new_client(key)
    with pytest.raises(UnauthorizedError) as error:
        client.payments.list()
    assert error.value.status == 401
    assert str(error.value) == "Missing authentication, or failed to authenticate"


def test_a_key_is_accepted_once_its_account_is_added(fake_mollie):
    # given
    client = fake_mollie.new_client(UNKNOWN_KEY)
    with pytest.raises(UnauthorizedError):
        client.payments.list()
    # when
    account = fake_mollie.add_account(UNKNOWN_KEY, "Régie cantine – Villeneuve")
    # then
    assert account == {
        "key": UNKNOWN_KEY,
        "name": "Régie cantine – Villeneuve",
        "mode": "test",
        "profileId": account["profileId"],
    }
    assert account["profileId"].startswith("pfl_")
    assert len(client.payments.list()) == 0
    assert client.payments.create(payment_data()).mode == "test"
    assert fake_mollie.accounts[UNKNOWN_KEY] == account


def test_adding_an_account_is_idempotent_and_a_name_renames_it(fake_mollie):
    first = fake_mollie.add_account(UNKNOWN_KEY, "Régie A")
    assert fake_mollie.add_account(UNKNOWN_KEY) == first
    assert fake_mollie.add_account(UNKNOWN_KEY, "Régie B") == {**first, "name": "Régie B"}
    assert list(fake_mollie.accounts) == [TEST_KEY, OTHER_TEST_KEY, LIVE_KEY, UNKNOWN_KEY]


@pytest.mark.parametrize("key", ["test_short", "prod_" + "x" * 30, "", None, 42])
def test_an_account_needs_a_key_that_looks_like_mollies(fake_mollie, key):
    with pytest.raises(ApiError) as error:
        fake_mollie.add_account(key, "Régie")
    assert (error.value.status, error.value.field) == (422, "key")
    assert list(fake_mollie.accounts) == [TEST_KEY, OTHER_TEST_KEY, LIVE_KEY]


def test_the_control_endpoint_adds_an_account_idempotently(fake_mollie):
    # when
    created = requests.post(
        f"{fake_mollie.url}/_fake/accounts", json={"key": UNKNOWN_KEY, "name": "Régie cantine – Villeneuve"}
    )
    again = requests.post(f"{fake_mollie.url}/_fake/accounts", json={"key": UNKNOWN_KEY})
    refused = requests.post(f"{fake_mollie.url}/_fake/accounts", json={"key": "test_short", "name": "x"})
    # then
    account = fake_mollie.accounts[UNKNOWN_KEY]
    assert account["name"] == "Régie cantine – Villeneuve"
    assert (created.status_code, created.json()) == (201, {"account": account})
    assert (again.status_code, again.json()) == (200, {"account": account})
    assert refused.status_code == 422 and refused.json()["field"] == "key"
    listed = requests.get(f"{fake_mollie.url}/_fake/accounts").json()["accounts"]
    assert [a["key"] for a in listed] == [TEST_KEY, OTHER_TEST_KEY, LIVE_KEY, UNKNOWN_KEY]
    response = requests.get(f"{fake_mollie.api_url}/payments", headers=headers(UNKNOWN_KEY))
    assert response.status_code == 200 and response.json()["count"] == 0


def test_a_fake_without_accounts_refuses_every_key():
    with FakeMollie() as fake:
        with pytest.raises(UnauthorizedError):
            fake.new_client(TEST_KEY).payments.list()
        with pytest.raises(ApiError) as error:
            fake.create_payment(payment_data())
        assert error.value.status == 401
        assert fake.accounts == {} and fake.payments == {}


@pytest.mark.parametrize("other_key", [OTHER_TEST_KEY, LIVE_KEY])
def test_a_payment_is_404_for_another_account(fake_mollie, client, other_key):
    # given a paid payment of TEST_KEY's account, and one of the other account
    payment = paid_payment(fake_mollie, client)
    other = fake_mollie.new_client(other_key)
    theirs = other.payments.create(payment_data())
    # then the other account can neither read, cancel, refund nor list it
    with pytest.raises(NotFoundError) as error:
        other.payments.get(payment.id)
    assert (error.value.status, str(error.value)) == (404, f"No payment exists with token {payment.id}.")
    with pytest.raises(NotFoundError):
        other.payments.delete(payment.id)
    refund = requests.post(
        f"{fake_mollie.api_url}/payments/{payment.id}/refunds",
        json={"amount": {"currency": "EUR", "value": "1.00"}},
        headers=headers(other_key),
    )
    assert refund.status_code == 404
    assert refund.json()["detail"] == f"No payment exists with token {payment.id}."
    refunds = requests.get(f"{fake_mollie.api_url}/payments/{payment.id}/refunds", headers=headers(other_key))
    assert refunds.status_code == 404
    assert [p.id for p in other.payments.list()] == [theirs.id]
    assert [p.id for p in client.payments.list()] == [payment.id]
    assert fake_mollie.payment(payment.id)["amountRefunded"]["value"] == "0.00"
    with pytest.raises(NotFoundError):
        client.payments.get(theirs.id)
    with pytest.raises(NotFoundError):
        client.payments.get("tr_doesnotexist")


def test_unknown_route_is_problem_json(fake_mollie):
    response = requests.get(f"{fake_mollie.api_url}/orders", headers=headers())
    assert response.status_code == 404 and response.json()["title"] == "Not Found"


# --- idempotency ---------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_stored_payment(fake_mollie, client):
    first = client.payments.create(payment_data(), idempotency_key="attempt-42")
    again = requests.post(
        f"{fake_mollie.api_url}/payments",
        json=payment_data(),
        headers=headers(**{"Idempotency-Key": "attempt-42"}),
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.id
    assert client.payments.create(payment_data(), idempotency_key="attempt-42").id == first.id
    assert list(fake_mollie.payments) == [first.id]
    fresh = requests.post(f"{fake_mollie.api_url}/payments", json=payment_data(), headers=headers())
    assert "Idempotent-Replayed" not in fresh.headers


def test_same_idempotency_key_with_another_body_is_400(client):
    client.payments.create(payment_data(), idempotency_key="attempt-7")
    with pytest.raises(BadRequestError) as error:
        client.payments.create(payment_data(description="Autre"), idempotency_key="attempt-7")
    assert error.value.idempotency_key == "attempt-7"


def test_idempotency_keys_are_per_api_key_and_expire(fake_mollie, client):
    first = client.payments.create(payment_data(), idempotency_key="k")
    other = fake_mollie.new_client(OTHER_TEST_KEY).payments.create(payment_data(), idempotency_key="k")
    assert other.id != first.id
    fake_mollie.idempotency_ttl = 0
    time.sleep(0.01)
    assert client.payments.create(payment_data(), idempotency_key="k").id != first.id


def test_a_failed_request_does_not_keep_its_idempotency_key(client):
    with pytest.raises(UnprocessableEntityError):
        client.payments.create(payment_data(description=""), idempotency_key="k")
    assert client.payments.create(payment_data(), idempotency_key="k").is_open()


def test_same_idempotency_key_while_the_first_request_runs_is_409(fake_mollie):
    fake_mollie.inject_fault("timeout", method="POST", path="/v2/payments", delay=1.0)
    slow_client, results = fake_mollie.new_client(TEST_KEY, timeout=5), []
    slow = threading.Thread(
        target=lambda: results.append(slow_client.payments.create(payment_data(), idempotency_key="k"))
    )
    slow.start()
    deadline = time.monotonic() + 2
    while fake_mollie.faults and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    with pytest.raises(ConflictError):
        fake_mollie.new_client(TEST_KEY).payments.create(payment_data(), idempotency_key="k")
    slow.join()
    (payment,) = results
    assert (
        fake_mollie.new_client(TEST_KEY).payments.create(payment_data(), idempotency_key="k").id == payment.id
    )


# --- list, get, cancel -------------------------------------------------------------------------


def test_list_is_paginated_newest_first(fake_mollie, client):
    ids = [client.payments.create(payment_data(description=f"n°{n}")).id for n in range(5)]
    page = client.payments.list(limit=2)
    assert page.count == 2 and [p.id for p in page] == ids[::-1][:2]
    assert page.has_next() and not page.has_previous()
    assert page["_links"]["next"]["href"].startswith(fake_mollie.api_url)
    second = page.get_next()
    assert [p.id for p in second] == ids[::-1][2:4] and second.has_previous()
    third = second.get_next()
    assert [p.id for p in third] == [ids[0]] and not third.has_next()
    assert [p.id for p in third.get_previous()] == ids[::-1][2:4]
    assert [p.id for p in client.payments.list(limit=3, **{"from": ids[2]})] == ids[2::-1]
    assert len(client.payments.list()) == 5
    with pytest.raises(BadRequestError):
        client.payments.list(limit=0)


def test_get_embeds_refunds_and_chargebacks(fake_mollie, client):
    payment = paid_payment(fake_mollie, client)
    refund = payment.refunds.create(
        {"amount": {"currency": "EUR", "value": "3.00"}, "description": "Trop-perçu"}
    )
    fake_mollie.add_chargeback(payment.id, "2.00", webhook=False)
    again = client.payments.get(payment.id, embed="refunds,chargebacks")
    assert [r["id"] for r in again.get_embedded("refunds")] == [refund.id]
    assert again.get_embedded("chargebacks")[0]["amount"] == {"currency": "EUR", "value": "2.00"}
    assert again.has_refunds() and again.has_chargebacks()
    assert "_embedded" not in client.payments.get(payment.id)


def test_cancel_while_open_then_422(client):
    payment = client.payments.create(payment_data())
    canceled = client.payments.delete(payment.id)
    assert canceled.is_canceled() and canceled.canceled_at and canceled.is_cancelable is False
    assert canceled.checkout_url is None
    with pytest.raises(UnprocessableEntityError):
        client.payments.delete(payment.id)


def test_update_while_open(client):
    payment = client.payments.create(payment_data())
    updated = client.payments.update(payment.id, {"description": "Facture corrigée", "metadata": {"v": 2}})
    assert updated.description == "Facture corrigée" and updated.metadata == {"v": 2}


# --- refunds -------------------------------------------------------------------------------------


def test_partial_then_full_refund_and_422_beyond(fake_mollie, client):
    payment = paid_payment(fake_mollie, client)
    refund = payment.refunds.create(
        {"amount": {"currency": "EUR", "value": "4.00"}, "description": "Repas annulé", "metadata": {"r": 1}},
        idempotency_key="refund-1",
    )
    assert refund.id.startswith("re_") and refund.is_pending() and refund.payment_id == payment.id
    assert refund.metadata == {"r": 1}
    assert refund["_links"]["self"]["href"].startswith(fake_mollie.api_url)
    after = client.payments.get(payment.id)
    assert after.is_paid() and after.status == "paid"
    assert after.amount_refunded["value"] == "4.00" and after.amount_remaining["value"] == "6.00"

    replay = payment.refunds.create(
        {"amount": {"currency": "EUR", "value": "4.00"}, "description": "Repas annulé", "metadata": {"r": 1}},
        idempotency_key="refund-1",
    )
    assert replay.id == refund.id

    payment.refunds.create({"amount": {"currency": "EUR", "value": "6.00"}, "description": "Reste"})
    assert client.payments.get(payment.id).amount_remaining["value"] == "0.00"
    with pytest.raises(UnprocessableEntityError) as error:
        payment.refunds.create({"amount": {"currency": "EUR", "value": "0.01"}, "description": "Trop"})
    assert error.value.field == "amount.value"
    assert [r.id for r in payment.refunds.list()][-1] == refund.id
    assert payment.refunds.get(refund.id).amount["value"] == "4.00"


def test_refund_of_an_unpaid_payment_is_422(client):
    payment = client.payments.create(payment_data())
    with pytest.raises(UnprocessableEntityError):
        payment.refunds.create({"amount": {"currency": "EUR", "value": "1.00"}, "description": "Non"})


def test_a_failed_refund_gives_the_amount_back_and_a_pending_one_can_be_canceled(fake_mollie, client):
    payment = paid_payment(fake_mollie, client)
    refund = payment.refunds.create({"amount": {"currency": "EUR", "value": "10.00"}})
    response = requests.post(
        f"{fake_mollie.url}/_fake/refunds/{refund.id}/status", json={"status": "failed", "webhook": False}
    )
    assert response.status_code == 200 and response.json()["refund"]["status"] == "failed"
    assert client.payments.get(payment.id).amount_remaining["value"] == "10.00"
    second = payment.refunds.create({"amount": {"currency": "EUR", "value": "1.00"}})
    payment.refunds.delete(second.id)
    assert payment.refunds.get(second.id).status == "canceled"


# --- checkout page and webhooks ------------------------------------------------------------------


def test_checkout_page_shows_the_payment_and_four_buttons(fake_mollie, client):
    payment = client.payments.create(payment_data(amount={"currency": "EUR", "value": "1234.50"}))
    page = requests.get(payment.checkout_url)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Paiement de test" in page.text and "1234,50 €" in page.text and "Facture 2027-0001" in page.text
    for label in ("Payé", "Échoué", "Annulé", "Expiré"):
        assert f">{label}</button>" in page.text
    assert f'action="/checkout/{payment.id}"' in page.text
    assert requests.get(f"{fake_mollie.url}/checkout/tr_nope").status_code == 404


@pytest.mark.parametrize("choice", ["paid", "failed", "canceled", "expired"])
def test_a_checkout_choice_fires_the_webhook_and_redirects(fake_mollie, client, receiver, choice):
    payment = client.payments.create(payment_data(webhookUrl=receiver.url))
    response = requests.post(payment.checkout_url, data={"status": choice}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == "https://foyer.test/retour"
    (call,) = fake_mollie.wait_for_webhooks(1)
    assert call["status"] == 200 and call["payment_id"] == payment.id and call["url"] == receiver.url
    assert receiver.calls == [
        {"body": f"id={payment.id}", "content_type": "application/x-www-form-urlencoded"}
    ]
    assert client.payments.get(payment.id).status == choice
    # A second click changes nothing: the payment is no longer open.
    requests.post(payment.checkout_url, data={"status": "paid"}, allow_redirects=False)
    assert client.payments.get(payment.id).status == choice and len(receiver.calls) == 1


def test_the_webhook_is_retried_until_200(fake_mollie, client, receiver):
    receiver.statuses = [500, 503]
    payment = client.payments.create(payment_data(webhookUrl=receiver.url))
    requests.post(payment.checkout_url, data={"status": "paid"}, allow_redirects=False)
    calls = fake_mollie.wait_for_webhooks(3)
    assert [(c["attempt"], c["status"]) for c in calls] == [(1, 500), (2, 503), (3, 200)]
    response = requests.get(f"{fake_mollie.url}/_fake/webhooks")
    assert response.json()["count"] == 3 and response.json()["calls"][0]["payment_id"] == payment.id


def test_a_non_loopback_webhook_is_recorded_not_sent(fake_mollie, client):
    payment = client.payments.create(payment_data(webhookUrl="https://foyer.example/webhook"))
    result = fake_mollie.set_status(payment.id, "paid")
    assert result["webhook"]["status"] is None and result["webhook"]["error"].startswith("skipped")
    assert len(fake_mollie.webhook_calls) == 1


def test_a_webhook_sender_replaces_http(client):
    sent = []
    with FakeMollie(webhook_sender=lambda url, data: sent.append((url, data)) or 200) as fake:
        fake.add_account(TEST_KEY, "Régie cantine – JolieVille")
        payment = fake.new_client(TEST_KEY).payments.create(payment_data(webhookUrl="https://foyer.test/wh"))
        assert fake.set_status(payment.id, "failed")["webhook"]["status"] == 200
    assert sent == [("https://foyer.test/wh", {"id": payment.id})]


# --- control endpoints ---------------------------------------------------------------------------


def test_control_status_fires_the_webhook_synchronously(fake_mollie, client, receiver):
    payment = client.payments.create(payment_data(webhookUrl=receiver.url))
    url = f"{fake_mollie.url}/_fake/payments/{payment.id}/status"
    quiet = requests.post(url, json={"status": "pending", "webhook": True}).json()
    assert quiet["payment"]["status"] == "pending" and quiet["webhook"] is None
    body = requests.post(url, json={"status": "paid"}).json()
    assert body["webhook"]["status"] == 200 and body["webhook"]["attempts"] == 1
    assert receiver.calls[0]["body"] == f"id={payment.id}"
    paid = client.payments.get(payment.id)
    assert paid.is_paid() and paid.paid_at and paid.checkout_url is None
    assert requests.post(url, json={"status": "expired", "webhook": False}).json()["webhook"] is None
    assert len(receiver.calls) == 1
    assert requests.post(url, json={"status": "bogus"}).status_code == 422
    assert (
        requests.post(f"{fake_mollie.url}/_fake/payments/tr_x/status", json={"status": "paid"}).status_code
        == 404
    )


def test_control_chargeback_keeps_the_payment_paid(fake_mollie, client, receiver):
    payment = client.payments.create(payment_data(webhookUrl=receiver.url))
    fake_mollie.set_status(payment.id, "paid", webhook=False)
    response = requests.post(
        f"{fake_mollie.url}/_fake/payments/{payment.id}/chargeback", json={"amount": "4.00"}
    )
    assert response.status_code == 201 and response.json()["webhook"]["status"] == 200
    after = client.payments.get(payment.id)
    assert after.status == "paid" and after.amount_chargedback == {"currency": "EUR", "value": "4.00"}
    assert after.amount_remaining["value"] == "6.00"
    (chargeback,) = list(after.chargebacks.list())
    assert chargeback.id.startswith("chb_") and after.chargebacks.get(chargeback.id).payment_id == payment.id
    fake_mollie.add_chargeback(payment.id, webhook=False)  # what remains
    assert client.payments.get(payment.id).amount_chargedback["value"] == "10.00"


def test_override_makes_the_api_answer_tampered_fields(fake_mollie, client):
    payment = client.payments.create(payment_data())
    fake_mollie.override(payment.id, amount={"currency": "EUR", "value": "1.00"})
    response = requests.post(
        f"{fake_mollie.url}/_fake/payments/{payment.id}/override", json={"metadata": {"invoice": 2}}
    )
    assert response.json()["metadata"] == {"invoice": 2}
    tampered = client.payments.get(payment.id)
    assert tampered.amount["value"] == "1.00" and tampered.metadata == {"invoice": 2}
    assert tampered.amount_remaining["value"] == "10.00"  # the fake's own books are unchanged


def test_control_reset_and_python_api(fake_mollie, client):
    payment = client.payments.create(payment_data())
    assert fake_mollie.payments[payment.id]["status"] == "open"
    assert fake_mollie.create_payment(payment_data())["status"] == "open"
    listed = requests.get(f"{fake_mollie.url}/_fake/payments").json()["payments"]
    assert len(listed) == 2
    accounts = fake_mollie.accounts
    assert requests.post(f"{fake_mollie.url}/_fake/reset").json() == {"reset": True}
    assert fake_mollie.payments == {} and fake_mollie.webhook_calls == []
    assert fake_mollie.accounts == accounts  # reset keeps the accounts: the key still works
    with pytest.raises(NotFoundError):
        client.payments.get(payment.id)


# --- faults --------------------------------------------------------------------------------------


def test_fault_status_500_does_nothing(fake_mollie, client):
    response = requests.post(
        f"{fake_mollie.url}/_fake/faults",
        json={"rule": "status 500", "method": "POST", "path": "/v2/payments"},
    )
    assert response.status_code == 201
    client.payments.list()  # a GET does not match
    with pytest.raises(ResponseError) as error:
        client.payments.create(payment_data(), idempotency_key="k")
    assert error.value.status == 500
    assert fake_mollie.payments == {}
    assert client.payments.create(payment_data(), idempotency_key="k").is_open()
    assert requests.post(f"{fake_mollie.url}/_fake/faults", json={"rule": "nope"}).status_code == 400


def test_fault_count_applies_to_several_requests(fake_mollie, client):
    fake_mollie.inject_fault("status 503", count=2)
    for _ in range(2):
        with pytest.raises(ResponseError):
            client.payments.list()
    assert len(client.payments.list()) == 0 and fake_mollie.faults == []


def test_fault_timeout_with_a_short_client_timeout(fake_mollie):
    fake_mollie.inject_fault("timeout", path="/v2/payments", delay=0.6)
    hasty = fake_mollie.new_client(TEST_KEY, timeout=0.2)
    with pytest.raises(RequestError):
        hasty.payments.create(payment_data(), idempotency_key="slow")
    time.sleep(0.6)  # the fake handled the request after its delay: the payment exists
    (created,) = fake_mollie.payments
    assert hasty.payments.create(payment_data(), idempotency_key="slow").id == created

    fake_mollie.inject_fault("timeout", delay=0.4, process=False)
    with pytest.raises(RequestError):
        hasty.payments.create(payment_data(), idempotency_key="lost")
    assert len(fake_mollie.payments) == 1


def test_drop_after_create_then_retry_with_the_same_key_gives_one_payment(fake_mollie, client):
    fake_mollie.inject_fault("drop_after_create", method="POST", path="/v2/payments")
    with pytest.raises(RequestError):
        client.payments.create(payment_data(), idempotency_key="attempt-9")
    (stored,) = fake_mollie.payments
    retry = requests.post(
        f"{fake_mollie.api_url}/payments",
        json=payment_data(),
        headers=headers(**{"Idempotency-Key": "attempt-9"}),
    )
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == stored
    assert client.payments.create(payment_data(), idempotency_key="attempt-9").id == stored
    assert len(fake_mollie.payments) == 1
    log = [(e["idempotency_key"], e["status"], e["fault"]) for e in fake_mollie.requests]
    assert log == [
        ("attempt-9", None, "drop_after_create"),
        ("attempt-9", 201, None),
        ("attempt-9", 201, None),
    ]


# --- customers, mandates, first and recurring payments ---------------------------------------------


def test_a_paid_first_payment_signs_a_mandate_for_recurring_payments(fake_mollie, client):
    # given a customer, and a first payment made for it
    customer = client.customers.create({"name": "Camille MARTIN", "email": "parent@example.fr"})
    assert customer.id.startswith("cst_") and client.customers.get(customer.id).name == "Camille MARTIN"
    first = client.payments.create(
        payment_data(
            customerId=customer.id, sequenceType="first", amount={"currency": "EUR", "value": "0.01"}
        )
    )
    assert (first["sequenceType"], first["customerId"], first.is_open()) == ("first", customer.id, True)
    assert len(customer.mandates.list()) == 0
    # when it is paid at the checkout
    fake_mollie.set_status(first.id, "paid", webhook=False)
    # then the customer has a valid SEPA mandate, which the payment names
    (mandate,) = customer.mandates.list()
    assert (mandate["status"], mandate["method"], mandate["details"]["consumerName"]) == (
        "valid",
        "directdebit",
        "Camille MARTIN",
    )
    assert client.payments.get(first.id)["mandateId"] == mandate.id
    assert customer.mandates.get(mandate.id)["signatureDate"]
    # and a recurring payment on it starts pending, without a checkout
    recurring = client.payments.create(
        {
            "amount": {"currency": "EUR", "value": "12.15"},
            "description": "Prélèvement de la facture 2027-CA-00-1",
            "customerId": customer.id,
            "mandateId": mandate.id,
            "sequenceType": "recurring",
        },
        idempotency_key="debit-1",
    )
    assert (recurring.status, recurring["method"], recurring.checkout_url) == ("pending", "directdebit", None)
    assert [p.id for p in customer.payments.list()] == [recurring.id, first.id]
    # the test controls move it like any payment: paid, then charged back
    fake_mollie.set_status(recurring.id, "paid", webhook=False)
    fake_mollie.add_chargeback(recurring.id, webhook=False)
    assert client.payments.get(recurring.id)["amountChargedBack"]["value"] == "12.15"


def test_a_recurring_payment_needs_a_valid_mandate_of_the_customer(fake_mollie, client):
    customer = client.customers.create({"name": "Camille MARTIN"})
    other = fake_mollie.new_client(OTHER_TEST_KEY).customers.create({"name": "Autre"})
    first = client.payments.create(payment_data(customerId=customer.id, sequenceType="first"))
    fake_mollie.set_status(first.id, "paid", webhook=False)
    mandate_id = client.payments.get(first.id)["mandateId"]
    recurring = {
        "amount": {"currency": "EUR", "value": "5.00"},
        "description": "Prélèvement",
        "customerId": customer.id,
        "mandateId": mandate_id,
        "sequenceType": "recurring",
    }
    # another account's customer is not found
    with pytest.raises(NotFoundError):
        client.payments.create({**recurring, "customerId": other.id})
    # when the mandate is revoked (DELETE), a recurring payment is refused and nothing is made
    customer.mandates.delete(mandate_id)
    assert customer.mandates.get(mandate_id)["status"] == "invalid"
    with pytest.raises(UnprocessableEntityError):
        client.payments.create(recurring)
    assert [p["sequenceType"] for p in fake_mollie.payments.values()] == ["first"]
    with pytest.raises(ResponseError) as error:
        customer.mandates.delete(mandate_id)
    assert error.value.status == 410


def test_faults_apply_to_customers_too(fake_mollie, client):
    fake_mollie.inject_fault("status 503", method="POST", path="/v2/customers")
    with pytest.raises(ResponseError) as error:
        client.customers.create({"name": "Camille MARTIN"}, idempotency_key="c-1")
    assert error.value.status == 503 and fake_mollie.customers == {}
    created = client.customers.create({"name": "Camille MARTIN"}, idempotency_key="c-1")
    assert client.customers.create({"name": "Camille MARTIN"}, idempotency_key="c-1").id == created.id
    assert list(fake_mollie.customers) == [created.id]


# --- running it ----------------------------------------------------------------------------------


def test_the_module_runs_in_the_foreground_with_its_accounts_and_prints_its_base_url():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "billing.fake_mollie",
            "--port",
            "0",
            "--account",
            f"{TEST_KEY}=Régie cantine – JolieVille",
            f"--account={LIVE_KEY}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        base_url = line.split("api_endpoint=")[1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert requests.get(base_url + "/").json()["service"] == "fake-mollie"
        accounts = requests.get(f"{base_url}/_fake/accounts").json()["accounts"]
        assert [(a["key"], a["name"], a["mode"]) for a in accounts] == [
            (TEST_KEY, "Régie cantine – JolieVille", "test"),
            (LIVE_KEY, "", "live"),
        ]
        for key, status in ((TEST_KEY, 200), (LIVE_KEY, 200), (OTHER_TEST_KEY, 401)):
            assert requests.get(f"{base_url}/v2/payments", headers=headers(key)).status_code == status
    finally:
        process.terminate()
        process.wait(timeout=5)
