"""Rate limits: sign-in lock-outs per account and per address (django-axes), one e-mail per
address every few minutes (password reset, e-mail change), the API's throttles, and every
link of every e-mail built on FOYER_BASE_URL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from foyer import rate_limits
from foyer.client_address import client_ip
from tests.conftest import PASSWORD, make_account, make_family

LOCKED = "Connexion bloquée pour un moment"


def sign_in(client, email: str, password: str, address: str = "192.0.2.10"):
    return client.post("/connexion/", {"username": email, "password": password}, REMOTE_ADDR=address)


def end_cool_off() -> None:
    """Time passes: the failures are older than the 15-minute cool-off."""
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))


def test_thirty_wrong_passwords_lock_the_account_with_a_french_page_until_the_delay_ends(client, db):
    # given an account
    make_account("parent@example.fr")
    # when 30 wrong passwords are tried in a row
    answers = [sign_in(client, "parent@example.fr", f"faux-{n}") for n in range(30)]
    # then the 10th locks the account: 429 and a French page with the way out
    assert [a.status_code for a in answers[:9]] == [200] * 9
    assert {a.status_code for a in answers[9:]} == {429}
    page = answers[-1].content.decode()
    assert LOCKED in page and "15 minutes" in page
    assert "/mot-de-passe/oubli/" in page
    assert answers[-1]["Retry-After"] == "900"
    # and even the right password is refused while the lock lasts, from any address
    assert sign_in(client, "Parent@Example.fr", PASSWORD, address="198.51.100.7").status_code == 429
    assert "_auth_user_id" not in client.session
    # when the cool-off has passed
    end_cool_off()
    # then the right password signs in
    assert sign_in(client, "parent@example.fr", PASSWORD).status_code == 302
    assert "_auth_user_id" in client.session


def test_a_successful_sign_in_forgets_the_accounts_failures(client, db):
    make_account("parent@example.fr")
    for n in range(9):
        sign_in(client, "parent@example.fr", f"faux-{n}")
    assert sign_in(client, "parent@example.fr", PASSWORD).status_code == 302
    client.logout()
    # nine more failures do not lock it: the count started again
    for n in range(9):
        assert sign_in(client, "parent@example.fr", f"faux-{n}").status_code == 200
    assert sign_in(client, "parent@example.fr", PASSWORD).status_code == 302


def test_fifty_failures_from_one_address_lock_that_address_only(client, db):
    # given accounts, and one address trying many of them (5 tries each: no account is locked)
    make_account("parent@example.fr")
    for n in range(49):
        assert sign_in(client, f"inconnu-{n // 5}@example.fr", "faux").status_code == 200
    # then the 50th failure locks that address, even for an account it never tried
    assert sign_in(client, "inconnu-10@example.fr", "faux").status_code == 429
    assert sign_in(client, "parent@example.fr", PASSWORD).status_code == 429
    # and another address signs in
    assert sign_in(client, "parent@example.fr", PASSWORD, address="198.51.100.7").status_code == 302


def test_a_new_password_unlocks_the_account(client, db, django_capture_on_commit_callbacks):
    # given a locked account
    make_account("parent@example.fr")
    for n in range(10):
        sign_in(client, "parent@example.fr", f"faux-{n}")
    assert sign_in(client, "parent@example.fr", PASSWORD).status_code == 429
    # when its owner resets the password from the e-mail's link
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/mot-de-passe/oubli/", {"email": "parent@example.fr"})
    link = re.search(r"http://testserver(/\S+)", mail.outbox[-1].body).group(1)
    form = client.get(link, follow=True)
    new = "Une-autre-phrase-solide"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    # then the new password signs in at once
    assert sign_in(client, "parent@example.fr", new).status_code == 302


def test_the_proxy_header_gives_the_address_only_when_configured(rf):
    request = rf.get("/", HTTP_X_REAL_IP="203.0.113.9", REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == "10.0.0.2"
    with override_settings(FOYER_TRUSTED_PROXY_HEADER="X-Real-IP"):
        assert client_ip(request) == "203.0.113.9"
        assert client_ip(rf.get("/", HTTP_X_REAL_IP="pas une adresse", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


# --- E-mails: one per address every few minutes, links on FOYER_BASE_URL ------------------------


def test_four_reset_requests_send_one_email_whose_link_ignores_the_host(
    client, db, django_capture_on_commit_callbacks
):
    # given an account
    make_account("parent@example.fr")
    mail.outbox.clear()
    # when a reset is asked four times in a row, with another Host header
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/mot-de-passe/oubli/", {"email": "Parent@example.fr"}, HTTP_HOST="localhost:6666"
            )
        assert response.status_code == 302
    # then one e-mail leaves, its link on FOYER_BASE_URL
    assert len(mail.outbox) == 1
    links = re.findall(r"https?://\S+", mail.outbox[0].body)
    assert links and all(link.startswith(settings.FOYER_BASE_URL + "/") for link in links)
    # and once the interval has passed, another may leave
    rate_limits.caches[rate_limits.LIMITS_CACHE].delete("email:password_reset:parent@example.fr")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/mot-de-passe/oubli/", {"email": "parent@example.fr"})
    assert len(mail.outbox) == 2


def test_an_email_change_to_the_same_address_is_sent_once_every_few_minutes(
    client, commune_a, django_capture_on_commit_callbacks
):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    mail.outbox.clear()
    data = {"new_email": "nouveau@example.fr", "password": PASSWORD}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/compte/email/", data).status_code == 302
        again = client.post("/compte/email/", data)
    assert again.status_code == 200
    assert "Un e-mail vient de partir vers cette adresse" in again.content.decode()
    assert len(mail.outbox) == 1


EMAIL_TEMPLATES = Path(settings.BASE_DIR) / "templates" / "emails"


@pytest.mark.parametrize("template", sorted(p.name for p in EMAIL_TEMPLATES.iterdir()))
def test_no_email_template_builds_a_link_from_the_request(template):
    # An e-mail's links come from FOYER_BASE_URL (base_url, or a link built on it by the sender),
    # never from the request that caused it (its Host header is the client's to choose).
    source = (EMAIL_TEMPLATES / template).read_text()
    for name in ("protocol", "domain", "site_name", "build_absolute_uri", "get_host", "scheme", "META"):
        assert not re.search(rf"{{[{{%][^}}]*\b{name}\b", source), f"{template} uses {name}"
    assert not re.search(r"https?://", source), f"{template} writes an address by hand"


# --- The API's throttles ---------------------------------------------------------------------------


def test_signed_out_clients_are_throttled_per_address(client, db, monkeypatch):
    # given a rate of 3 calls an hour for signed-out clients
    monkeypatch.setitem(rate_limits.AnonThrottle.THROTTLE_RATES, "anon", "3/hour")
    # when a fourth call comes (to the documentation, open to all) from the same address
    answers = [client.get("/api/docs/") for _ in range(4)]
    # then it waits; another address does not
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert client.get("/api/docs/", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_a_signed_in_family_is_throttled_per_account_in_french(client, commune_a, monkeypatch):
    # given a rate of 2 calls an hour per account
    monkeypatch.setitem(rate_limits.UserThrottle.THROTTLE_RATES, "user", "2/hour")
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    # when a third call comes
    answers = [client.get("/api/profil/") for _ in range(3)]
    # then the project's error format, in French, with the delay
    assert [a.status_code for a in answers] == [200, 200, 429]
    body = answers[-1].json()
    assert body["code"] == "throttled"
    assert body["message"].startswith("Trop de requêtes en peu de temps : réessayez dans ")
    assert int(answers[-1]["Retry-After"]) == body["extra"]["retry_after"] > 0


def test_limits_let_everything_through_when_redis_does_not_answer(client, commune_a, monkeypatch):
    # given a limits cache that cannot be reached and a tiny rate
    monkeypatch.setitem(rate_limits.UserThrottle.THROTTLE_RATES, "user", "1/hour")
    dead = {**settings.CACHES, "limits": {**settings.CACHES["limits"], "LOCATION": "redis://127.0.0.1:9/0"}}
    if "redis" not in dead["limits"]["BACKEND"].lower():
        pytest.skip("no Redis configured: the limits cache is in memory")
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    with override_settings(CACHES=dead):
        # then the API answers and the e-mail limits say yes
        assert [client.get("/api/profil/").status_code for _ in range(3)] == [200, 200, 200]
        assert rate_limits.email_allowed("password_reset", "parent@example.fr")
