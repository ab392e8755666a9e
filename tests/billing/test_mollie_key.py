"""The régie's Mollie key, checked with Mollie before it is stored: the fake Mollie knows the
accounts of TEST_KEY, OTHER_TEST_KEY and LIVE_KEY (tests/billing/conftest.py) and answers any
other key as Mollie does (401)."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.console_services import check_mollie_key, save_regie
from billing.crypto import decrypt_secret
from billing.fake_mollie import LIVE_KEY, TEST_KEY
from billing.models import Regie, default_regie_id
from foyer.errors import FoyerError
from tenants.context import commune_context

# Well formed, but no account of the fake has it.
UNKNOWN_KEY = "test_FoyerFakeMollieUnknownKey000000001"
REFUSED = "Mollie refuse cette clé : vérifiez-la dans votre tableau de bord Mollie."
SAVED_AT = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.usefixtures("mollie")


def regie_row(commune) -> dict:
    with commune_context(commune):
        return Regie.objects.values().get(pk=default_regie_id())


def save(commune, *, mollie_key: str, now: dt.datetime = SAVED_AT, **changes) -> Regie:
    fields = {
        "name": "Restauration scolaire",
        "regie_code": "CA",
        "due_days": 30,
        "invoicing_day": 5,
        "online_payment": True,
        **changes,
    }
    with commune_context(commune):
        return save_regie(regie_id=default_regie_id(), mollie_key=mollie_key, now=now, **fields)


def test_check_mollie_key_refuses_a_well_formed_key_mollie_does_not_know(mollie):
    with pytest.raises(FoyerError) as error:
        check_mollie_key(UNKNOWN_KEY)
    assert error.value.code == "invalid_mollie_key"
    assert error.value.field_errors == {"mollie_key": [REFUSED]}
    assert [(r["api_key"], r["status"]) for r in mollie.requests] == [(UNKNOWN_KEY, 401)]


def test_an_unknown_key_is_refused_and_the_regie_is_unchanged(commune_a, mollie):
    # given a régie saved with TEST_KEY
    save(commune_a, mollie_key=TEST_KEY)
    before = regie_row(commune_a)
    # when an admin changes the settings with a key Mollie does not know
    with pytest.raises(FoyerError) as error:
        save(
            commune_a,
            mollie_key=UNKNOWN_KEY,
            now=SAVED_AT + dt.timedelta(days=1),
            regie_code="RG2",
            due_days=45,
        )
    # then nothing is saved: the old key stays, encrypted as before
    assert error.value.message == "La régie n'a pas été enregistrée."
    assert error.value.field_errors == {"mollie_key": [REFUSED]}
    assert regie_row(commune_a) == before
    assert decrypt_secret(before["mollie_key_encrypted"]) == TEST_KEY
    assert (before["regie_code"], before["due_days"], before["mollie_mode"]) == ("CA", 30, "test")
    assert mollie.requests[-1]["api_key"] == UNKNOWN_KEY and mollie.requests[-1]["status"] == 401


@pytest.mark.parametrize(("key", "mode"), [(TEST_KEY, "test"), (LIVE_KEY, "live")])
def test_a_known_key_is_stored_encrypted_with_its_mode(commune_a, mollie, key, mode):
    # when
    save(commune_a, mollie_key=key)
    # then
    row = regie_row(commune_a)
    assert (row["mollie_mode"], row["mollie_checked_at"], row["online_payment"]) == (mode, SAVED_AT, True)
    assert decrypt_secret(row["mollie_key_encrypted"]) == key
    assert key not in row["mollie_key_encrypted"]
    assert [(r["api_key"], r["status"]) for r in mollie.requests] == [(key, 200)]
