"""The password hasher's parameters (Argon2id at OWASP's minimum, chosen for a rush of
sign-ins: foyer/hashers.py) and the session engine (an update in one statement)."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, make_password
from django.contrib.sessions.backends.base import UpdateError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from foyer.sessions import SessionStore
from shared_identity.models import Account
from tests.conftest import PASSWORD, make_account


class _DjangoDefaultArgon2(Argon2PasswordHasher):
    """Django's own parameters (time cost 2, 100 MiB, 8 lanes): the hashes stored before."""


def test_new_passwords_are_hashed_with_argon2id_at_the_chosen_parameters(db):
    # when
    account = make_account("parent@example.fr")
    # then
    assert account.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize("hasher", [_DjangoDefaultArgon2(), PBKDF2PasswordHasher()])
def test_a_hash_made_with_other_parameters_still_signs_in_and_is_upgraded(client, db, hasher):
    # given: a password hashed before (Django's default Argon2 parameters, or PBKDF2)
    account = make_account("parent@example.fr")
    Account.objects.filter(pk=account.pk).update(password=make_password(PASSWORD, hasher=hasher))
    # when
    response = client.post("/connexion/", {"username": "parent@example.fr", "password": PASSWORD})
    # then: signed in, and the hash is now made with the chosen parameters
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert account.check_password(PASSWORD)


def test_a_session_is_updated_in_one_statement(db):
    # given
    session = SessionStore()
    session["step"] = 1
    session.create()
    # when
    session["step"] = 2
    with CaptureQueriesContext(connection) as queries:
        session.save()
    # then
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]
    assert SessionStore(session.session_key)["step"] == 2


def test_a_session_deleted_meanwhile_is_not_written_again(db):
    # given: the session was deleted (signed out elsewhere) while the request ran
    session = SessionStore()
    session.create()
    SessionStore(session.session_key).delete()
    # when / then
    session["step"] = 2
    with pytest.raises(UpdateError):
        session.save()
    assert not SessionStore().exists(session.session_key)
