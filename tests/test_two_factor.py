"""Two-factor authentication of staff and operators (django-otp): setting it up, the code step
of the login, throttling, backup codes, turning it off, and a commune requiring it."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from actualites.models import NewsItem
from shared_identity import two_factor
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tenants.models import Commune
from tests.conftest import PASSWORD, commune_path, make_account, make_family, make_staff

SETUP = "/compte/securite/double-authentification/"
CODES = "/compte/securite/double-authentification/codes/"
DISABLE = "/compte/securite/double-authentification/desactiver/"
VERIFY = "/connexion/verification/"
WRONG_CODE = "Code incorrect ou expiré."
THROTTLED = "Trop de codes erronés : par sécurité, patientez"


def current_code(device: TOTPDevice) -> str:
    """The code the app shows now. A code is accepted once per time step: tests that sign in
    twice within 30 seconds forget the last one used."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def enable(account) -> tuple[TOTPDevice, list[str]]:
    device = two_factor.start_totp_setup(account=account)
    return two_factor.confirm_totp_setup(account=account, token=current_code(device))


def sign_in(client, account, device: TOTPDevice | None = None, next_url: str = "") -> None:
    """The real login: password, then the code when the account has an app."""
    response = client.post("/connexion/", {"username": account.email, "password": PASSWORD, "next": next_url})
    assert response.status_code == 302
    if device is not None:
        assert response["Location"] == VERIFY
        response = client.post(VERIFY, {"code": current_code(device)})
        assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(account.pk)


def page(response) -> str:
    return html.unescape(response.content.decode())


def unthrottle(account) -> None:
    past = timezone.now() - dt.timedelta(hours=1)
    TOTPDevice.objects.filter(user=account).update(throttling_failure_timestamp=past)
    StaticDevice.objects.filter(user=account).update(throttling_failure_timestamp=past)


@pytest.fixture
def admin_a(commune_a):
    return make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)


@pytest.fixture
def admin_b(commune_b):
    return make_staff(commune_b, "chef@demo.test", role=StaffRole.Role.ADMIN)


# --- Where the tables live --------------------------------------------------------------------


def test_device_tables_live_in_the_public_schema_only(commune_a):
    # django-tenants' router migrates SHARED_APPS in public and TENANT_APPS in commune schemas
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'otp_%%' "
            "ORDER BY table_schema, table_name"
        )
        tables = cursor.fetchall()
    assert tables == [
        ("public", "otp_static_staticdevice"),
        ("public", "otp_static_statictoken"),
        ("public", "otp_totp_totpdevice"),
    ]


# --- Setting it up ------------------------------------------------------------------------------


def test_setup_shows_the_qr_code_and_refuses_a_wrong_code(client, agent_a):
    # given an agent signed in
    sign_in(client, agent_a)
    # when they open the setup page
    response = client.get(SETUP)
    # then an unconfirmed device is ready, its QR code and secret on the page
    device = TOTPDevice.objects.get(user=agent_a)
    assert device.confirmed is False
    text = page(response)
    assert "<svg" in text and two_factor.totp_secret(device) in text
    # when they type a wrong code
    response = client.post(SETUP, {"code": "000000" if current_code(device) != "000000" else "111111"})
    # then it is refused and nothing is turned on
    assert WRONG_CODE in page(response)
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=agent_a).exists()
    assert two_factor.has_two_factor(agent_a) is False


def test_setup_confirmed_by_the_right_code_shows_ten_backup_codes_once(client, agent_a):
    sign_in(client, agent_a)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=agent_a)
    # the same secret while the setup is not confirmed (reloading the page keeps the QR code)
    client.get(SETUP)
    assert list(TOTPDevice.objects.filter(user=agent_a).values_list("pk", flat=True)) == [device.pk]
    # when the right code is typed
    response = client.post(SETUP, {"code": current_code(device)})
    # then the device is confirmed, the session verified, and the codes shown on the next page
    assert response.status_code == 302 and response["Location"] == CODES
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.session["otp_device_id"] == device.persistent_id
    tokens = sorted(StaticToken.objects.filter(device__user=agent_a).values_list("token", flat=True))
    assert len(tokens) == 10
    shown = re.findall(r"<li><code>([a-z2-7]{4})-([a-z2-7]{4})</code></li>", page(client.get(CODES)))
    assert sorted(a + b for a, b in shown) == tokens
    # and never again
    assert client.get(CODES)["Location"] == SETUP
    # the setup page now manages it
    text = page(client.get(SETUP))
    assert "Il vous reste 10 codes de secours inutilisés." in text


def test_families_are_not_offered_two_factor(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(family.family.guardians.get().account)
    assert client.get(SETUP).status_code == 404
    assert "Double authentification" not in page(client.get("/compte/"))
    assert not TOTPDevice.objects.exists()


def test_account_page_shows_the_security_section_to_staff(client, agent_a):
    sign_in(client, agent_a)
    text = page(client.get("/compte/"))
    assert "Double authentification" in text and "Non activée." in text
    assert f'href="{SETUP}"' in text


# --- Signing in -----------------------------------------------------------------------------------


def test_login_with_a_device_asks_for_the_code_before_signing_in(client, commune_a, agent_a):
    device, _ = enable(agent_a)
    console = commune_path(commune_a, "console/")
    # when the password is right
    response = client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD, "next": console})
    # then the code is asked, and the session is not signed in yet
    assert response.status_code == 302 and response["Location"] == VERIFY
    assert "_auth_user_id" not in client.session
    assert client.get(console)["Location"].startswith("/connexion/?next=")
    assert "code à 6 chiffres" in page(client.get(VERIFY))
    # when the code is right
    response = client.post(VERIFY, {"code": current_code(device)})
    # then the session is signed in and verified, and goes where it was going
    assert response.status_code == 302 and response["Location"] == console
    assert client.session["_auth_user_id"] == str(agent_a.pk)
    assert client.session["otp_device_id"] == device.persistent_id
    assert client.get(console).status_code == 200


def test_login_without_a_device_is_unchanged(client, agent_a):
    response = client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(agent_a.pk)


def test_a_wrong_code_is_refused_in_french(client, agent_a):
    device, _ = enable(agent_a)
    client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    right = current_code(device)
    response = client.post(VERIFY, {"code": "000000" if right != "000000" else "111111"})
    assert response.status_code == 200
    assert WRONG_CODE in page(response)
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_after_a_wrong_code_even_the_right_one_waits(client, agent_a):
    # given a wrong code just typed
    device, _ = enable(agent_a)
    client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    client.post(VERIFY, {"code": "abcdef"})
    # when the right code comes at once, it is refused with the wait to respect
    response = client.post(VERIFY, {"code": current_code(device)})
    assert THROTTLED in page(response)
    assert "_auth_user_id" not in client.session
    # a second wrong code doubles the wait
    unthrottle(agent_a)
    client.post(VERIFY, {"code": "zzzz-zzzz"})  # a wrong backup code counts too
    assert THROTTLED in page(client.post(VERIFY, {"code": current_code(device)}))
    # when the wait is over, the right code signs in
    unthrottle(agent_a)
    response = client.post(VERIFY, {"code": current_code(device)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent_a.pk)


def test_a_backup_code_works_once(client, agent_a):
    _, codes = enable(agent_a)
    # when a backup code is used at login
    client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    response = client.post(VERIFY, {"code": codes[0].upper()})
    # then it signs in, and is spent
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent_a.pk)
    assert two_factor.backup_codes_left(agent_a) == 9
    # when it is used again, it is refused
    client.post("/deconnexion/")
    client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    response = client.post(VERIFY, {"code": codes[0]})
    assert WRONG_CODE in page(response)
    assert "_auth_user_id" not in client.session
    assert two_factor.backup_codes_left(agent_a) == 9


def test_next_pointing_elsewhere_is_dropped(client, agent_a):
    device, _ = enable(agent_a)
    client.post(
        "/connexion/", {"username": agent_a.email, "password": PASSWORD, "next": "https://ailleurs.example/"}
    )
    response = client.post(VERIFY, {"code": current_code(device)})
    assert response["Location"] == "/"


def test_the_code_step_without_a_password_step_goes_back_to_login(client):
    response = client.get(VERIFY)
    assert response["Location"] == "/connexion/"


def test_a_password_changed_meanwhile_cancels_the_code_step(client, agent_a):
    device, _ = enable(agent_a)
    client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})
    agent_a.set_password("Une-autre-phrase-solide")
    agent_a.save()
    response = client.post(VERIFY, {"code": current_code(device)})
    assert response["Location"] == "/connexion/"
    assert "_auth_user_id" not in client.session


# --- Turning it off and new backup codes -----------------------------------------------------------


def test_disabling_requires_the_password_and_a_code(client, agent_a):
    device, _ = enable(agent_a)
    sign_in(client, agent_a, device)
    # a wrong password
    response = client.post(DISABLE, {"password": "pas-le-bon", "code": current_code(device)})
    assert "Mot de passe incorrect." in page(response)
    assert TOTPDevice.objects.filter(user=agent_a).count() == 1
    # a wrong code
    response = client.post(DISABLE, {"password": PASSWORD, "code": "999999"})
    assert WRONG_CODE in page(response)
    assert TOTPDevice.objects.filter(user=agent_a).count() == 1
    assert StaticDevice.objects.filter(user=agent_a).count() == 1
    # both right
    unthrottle(agent_a)
    response = client.post(DISABLE, {"password": PASSWORD, "code": current_code(device)})
    assert response.status_code == 302 and response["Location"] == "/compte/"
    assert not TOTPDevice.objects.filter(user=agent_a).exists()
    assert not StaticDevice.objects.filter(user=agent_a).exists()
    # the next login asks no code
    client.post("/deconnexion/")
    assert client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})["Location"] == "/"


def test_new_backup_codes_replace_the_old_ones(client, agent_a):
    device, old_codes = enable(agent_a)
    sign_in(client, agent_a, device)
    response = client.post("/compte/securite/double-authentification/codes/nouveaux/")
    assert response["Location"] == CODES
    new_codes = sorted(StaticToken.objects.filter(device__user=agent_a).values_list("token", flat=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)


def test_an_unverified_session_cannot_manage_two_factor(client, agent_a):
    # a session signed in before the app was added (force_login: no code given)
    enable(agent_a)
    client.force_login(agent_a)
    assert client.get(SETUP)["Location"] == f"{VERIFY}?next=%2Fcompte%2Fsecurite%2Fdouble-authentification%2F"
    response = client.post("/compte/securite/double-authentification/codes/nouveaux/")
    assert response["Location"].startswith(VERIFY)
    assert two_factor.backup_codes_left(agent_a) == 10


# --- The consoles -------------------------------------------------------------------------------------


def test_an_unverified_session_is_sent_to_the_code_step_by_the_consoles(client, commune_a, agent_a):
    device, _ = enable(agent_a)
    client.force_login(agent_a)
    console = commune_path(commune_a, "console/familles/")
    response = client.get(console)
    assert response["Location"] == f"{VERIFY}?next=%2Fc%2Fjolieville%2Fconsole%2Ffamilles%2F"
    # the code step verifies the session and goes back
    response = client.post(VERIFY, {"code": current_code(device), "next": console})
    assert response["Location"] == console
    assert client.get(console).status_code == 200


def test_an_operator_with_a_device_gives_the_code_too(client, db):
    operator = make_account("ops@foyer.test", is_platform_operator=True)
    device, _ = enable(operator)
    client.force_login(operator)
    assert client.get("/operateur/")["Location"] == f"{VERIFY}?next=%2Foperateur%2F"
    client.post(VERIFY, {"code": current_code(device)})
    assert client.get("/operateur/").status_code == 200


def test_an_operator_without_a_device_sets_one_up_before_any_operator_page(client, db):
    # given a platform operator without an authenticator app, signing in for the first time
    operator = make_account("ops@foyer.test", is_platform_operator=True)
    sign_in(client, operator)
    # then every operator page sends to the setup first, saying why
    for path in ("/operateur/", "/operateur/sante/", "/operateur/communes/nouvelle/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == SETUP + "?next=" + path.replace("/", "%2F")
    assert (
        "La console des opérateurs exige la double authentification : activez-la sur votre compte "
        "pour y accéder." in page(client.get(response["Location"]))
    )
    # and nothing is done on its behalf
    response = client.post("/operateur/communes/nouvelle/", {"name": "Bourg", "slug": "bourg"})
    assert response.status_code == 302 and response["Location"].startswith(SETUP)
    assert not Commune.objects.filter(slug="bourg").exists()
    # when it turns two-factor authentication on, then the operator console opens
    device = two_factor.start_totp_setup(account=operator)
    response = client.post(SETUP + "?next=%2Foperateur%2F", {"code": current_code(device)})
    assert response.status_code == 302
    assert client.get("/operateur/").status_code == 200


def test_a_commune_requiring_it_sends_staff_without_a_device_to_the_setup(client, commune_a, agent_a):
    # given commune A requires two-factor authentication
    Commune.objects.filter(pk=commune_a.pk).update(require_staff_2fa=True)
    sign_in(client, agent_a)
    # then every console page sends the agent to the setup, with the commune's rule
    for path in ("console/", "console/familles/", "console/equipe/", "console/pointage/"):
        response = client.get(commune_path(commune_a, path))
        assert response.status_code == 302
        assert response["Location"] == SETUP + "?next=" + commune_path(commune_a, path).replace("/", "%2F")
    text = page(client.get(response["Location"]))
    assert (
        "Commune de JolieVille exige la double authentification pour toute son équipe : activez-la sur "
        "votre compte pour accéder à la console." in text
    )
    assert "Obligatoire pour l'équipe de : Commune de JolieVille." in text
    # when the agent sets it up, the console opens
    device = TOTPDevice.objects.get(user=agent_a, confirmed=False)
    response = client.post(SETUP, {"code": current_code(device), "next": commune_path(commune_a, "console/")})
    assert response["Location"] == CODES + "?next=%2Fc%2Fjolieville%2Fconsole%2F"
    assert 'href="/c/jolieville/console/"' in page(client.get(response["Location"]))
    assert client.get(commune_path(commune_a, "console/")).status_code == 200


def test_a_commune_requiring_it_leaves_family_pages_alone(client, commune_a):
    Commune.objects.filter(pk=commune_a.pk).update(require_staff_2fa=True)
    family = make_family(commune_a, email="parent@example.fr")
    account = family.family.guardians.get().account
    sign_in(client, account)
    assert client.get("/").status_code == 200
    assert client.get("/compte/").status_code == 200
    assert client.get("/factures/").status_code == 200


def test_the_requirement_of_commune_a_does_not_reach_commune_b(client, commune_a, commune_b):
    Commune.objects.filter(pk=commune_a.pk).update(require_staff_2fa=True)
    both = make_staff(commune_b, "deux@communes.test")
    StaffRole.objects.create(account=both, commune=commune_a, role=StaffRole.Role.AGENT)
    sign_in(client, both)
    assert client.get(commune_path(commune_b, "console/")).status_code == 200
    assert client.get(commune_path(commune_a, "console/"))["Location"].startswith(SETUP)


# --- The commune's rule (console, "Équipe") -------------------------------------------------------------


def test_staff_page_shows_each_members_two_factor_state(client, commune_a, admin_a, agent_a):
    device, _ = enable(admin_a)
    sign_in(client, admin_a, device)
    text = page(client.get(commune_path(commune_a, "console/equipe/")))
    rows = re.findall(r"<td>([^<]+@jolieville\.test)</td>.*?two-factor-state (on|off)", text, re.S)
    assert rows == [("agent@jolieville.test", "off"), ("chef@jolieville.test", "on")]


def test_an_admin_with_two_factor_requires_it_for_the_team(client, commune_a, admin_a):
    device, _ = enable(admin_a)
    sign_in(client, admin_a, device)
    response = client.post(
        commune_path(commune_a, "console/equipe/"), {"form": "two_factor", "require_staff_2fa": "on"}
    )
    assert response.status_code == 302
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is True
    # and turns it off again
    client.post(commune_path(commune_a, "console/equipe/"), {"form": "two_factor"})
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is False


def test_an_admin_without_two_factor_cannot_require_it(client, commune_a, admin_a):
    sign_in(client, admin_a)
    response = client.post(
        commune_path(commune_a, "console/equipe/"), {"form": "two_factor", "require_staff_2fa": "on"}
    )
    assert response.status_code == 200
    assert "Activez d'abord la double authentification sur votre propre compte" in page(response)
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is False


def test_an_agent_cannot_change_the_requirement(client, commune_a, agent_a):
    device, _ = enable(agent_a)
    sign_in(client, agent_a, device)
    response = client.post(
        commune_path(commune_a, "console/equipe/"), {"form": "two_factor", "require_staff_2fa": "on"}
    )
    assert response.status_code == 403
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is False


def test_commune_bs_admin_cannot_change_commune_as_requirement(client, commune_a, admin_b):
    device, _ = enable(admin_b)
    sign_in(client, admin_b, device)
    response = client.post(
        commune_path(commune_a, "console/equipe/"), {"form": "two_factor", "require_staff_2fa": "on"}
    )
    assert response.status_code == 404
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is False


def test_the_service_refuses_an_admin_of_another_commune(commune_a, admin_b):
    from console.services import set_staff_2fa_requirement
    from foyer.errors import FoyerError

    enable(admin_b)
    with pytest.raises(FoyerError) as refused:
        set_staff_2fa_requirement(commune=commune_a, required=True, actor=admin_b)
    assert refused.value.status == 403
    assert Commune.objects.get(pk=commune_a.pk).require_staff_2fa is False


def test_an_operator_resets_a_lost_device_and_closes_the_sessions(client, agent_a, admin_a):
    # given an agent signed in with a device, and an admin with their own device
    device, _ = enable(agent_a)
    enable(admin_a)
    sign_in(client, agent_a, device)
    out = io.StringIO()
    # when an operator runs the recovery command for the agent
    call_command("reset_two_factor", agent_a.email.upper(), stdout=out)
    # then the agent's devices and sessions are gone, the admin's device is not
    assert "Double authentification retirée pour agent@jolieville.test" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=agent_a).exists()
    assert not StaticDevice.objects.filter(user=agent_a).exists()
    assert TOTPDevice.objects.filter(user=admin_a).count() == 1
    assert client.get("/compte/")["Location"].startswith("/connexion/")
    # and the next login asks no code
    assert client.post("/connexion/", {"username": agent_a.email, "password": PASSWORD})["Location"] == "/"


def test_resetting_an_unknown_account_fails_clearly(db):
    with pytest.raises(CommandError, match="Aucun compte ne porte l'adresse personne@example.fr"):
        call_command("reset_two_factor", "personne@example.fr")


def test_staff_held_back_by_the_two_factor_rule_cannot_preview_a_draft(client, commune_a, agent_a):
    # given a draft news item, and a commune that requires two-factor authentication
    with commune_context(commune_a):
        draft = NewsItem.objects.create(
            title="Brouillon interne", body="Pas encore publié.", created_by=agent_a
        )
    Commune.objects.filter(pk=commune_a.pk).update(require_staff_2fa=True)
    client.force_login(agent_a)
    # then an agent without an app sees neither the draft nor its image
    assert client.get(commune_path(commune_a, f"actualites/{draft.pk}/")).status_code == 404
    assert client.get(commune_path(commune_a, f"actualites/{draft.pk}/image/")).status_code == 404
    # and once the rule is lifted, the preview is back
    Commune.objects.filter(pk=commune_a.pk).update(require_staff_2fa=False)
    assert "Brouillon interne" in page(client.get(commune_path(commune_a, f"actualites/{draft.pk}/")))
