"""Input from outside is never a 500: numbers typed in other scripts ("²", "٣"), dates out of
range, NUL bytes, stray ``next`` values."""

from __future__ import annotations

import datetime as dt
import html

import pytest

from family.router import get_family_scope
from foyer import dates
from shared_identity.access import safe_next
from shared_identity.models import Guardian, Membership, StaffRole
from tenants.models import OutboxMessage
from tests.conftest import PASSWORD, commune_path, make_family, make_staff
from tests.test_two_factor import current_code, enable


def test_superscript_digits_in_query_strings_are_ignored(client, commune_a):
    # given a parent and an agent
    parent = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    agent = make_staff(commune_a, "agent@jolieville.test")
    # then the news feed, the week and the requests queue answer
    client.force_login(parent)
    assert client.get("/actualites/?page=²").status_code == 200
    assert client.get("/reservations/?enfant=²").status_code == 200
    client.force_login(agent)
    assert client.get(commune_path(commune_a, "console/demandes/?q=n°²")).status_code == 200
    assert client.get(commune_path(commune_a, "console/demandes/?attribuee=²")).status_code == 200


def test_a_commune_appears_once_for_a_parent_of_two_of_its_families(commune_a):
    # given one account guardian of two families, both members of the same commune
    first = make_family(commune_a, email="parent@example.fr", dossier="F00001")
    second = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    account = first.family.guardians.get().account
    Guardian.objects.create(
        family=second.family, account=account, first_name="Camille", last_name="Martin", email=account.email
    )
    # then the family scope (which every family router reads) holds the commune once
    scope = get_family_scope(account)
    assert [c.slug for c in scope.communes] == ["jolieville"]
    assert sorted(scope.family_ids) == sorted([first.family_id, second.family_id])
    assert Membership.objects.filter(commune=commune_a).count() == 2


# --- Dates out of range: one parser for every date that comes from outside --------------------


def test_dates_out_of_range_give_the_current_week_not_a_500(client, commune_a):
    # given a signed-in parent
    parent = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(parent)
    for value in ("9999-12-31", "0001-01-01", "2025-02-30", "٢٠٢٥-٠١-٠١"):
        # when the week page is asked for that week
        response = client.get(f"/reservations/?semaine={value}")
        # then it shows the current week, and says why
        assert response.status_code == 200, value
        assert "Date de semaine invalide" in response.content.decode()
        # and the period page shows the next weeks
        assert client.get(f"/reservations/periode/?du={value}&au={value}").status_code == 200


def test_an_api_date_out_of_range_is_the_apis_json_error(client, commune_a):
    # given a signed-in parent
    parent = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(parent)
    # when the week is asked for the year 9999
    response = client.get("/api/reservations/semaine/?date=9999-12-31")
    # then the API answers its own error format, in French
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["extra"]["fields"]["date"] == ["Saisissez une date entre 01/01/1900 et 31/12/2199."]


def test_the_audit_log_refuses_a_date_out_of_range_beside_the_field(client, commune_a):
    # given a commune administrator
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    # when the journal is filtered up to the year 9999
    response = client.get(commune_path(commune_a, "console/journal/?au=9999-12-31&du=0001-01-01"))
    # then the page answers and says why beside the field
    assert response.status_code == 200
    assert "Saisissez une date entre 01/01/1900 et 31/12/2199." in html.unescape(response.content.decode())


def test_the_date_parser_keeps_dates_within_bounds():
    assert dates.parse_date("2025-09-01") == dt.date(2025, 9, 1)
    assert dates.parse_date("01/09/2025") == dt.date(2025, 9, 1)
    assert dates.parse_date("9999-12-31") is None
    assert dates.parse_date("0001-01-01") is None
    assert dates.parse_date("2025-13-01") is None
    assert dates.parse_date("\x00") is None
    assert dates.parse_date(None) is None


# --- NUL bytes: PostgreSQL refuses them in text ------------------------------------------------

NUL_REFUSED = "La requête contient un caractère interdit"


def test_a_nul_byte_in_the_path_or_the_query_string_is_a_400(client, commune_a):
    # given an agent of the commune
    agent = make_staff(commune_a, "agent@jolieville.test")
    # when a NUL byte is in a commune's slug, the calendar token or the webhook token
    for path in ("/c/%00/", "/calendrier/%00.ics", commune_path(commune_a, "paiement/webhook/%00/")):
        response = client.post(path, {"id": "tr_1"}) if "webhook" in path else client.get(path)
        # then the request is refused with a French message
        assert response.status_code == 400, path
        assert NUL_REFUSED in html.unescape(response.content.decode())
    # and so is a search for it in the console
    client.force_login(agent)
    response = client.get(commune_path(commune_a, "console/familles/?q=%00"))
    assert response.status_code == 400
    # and an API request answers the API's format
    response = client.get("/api/reservations/semaine/?commune=%00")
    assert response.status_code == 400 and response.json()["code"] == "invalid_character"


def test_a_nul_byte_in_a_form_field_is_refused_and_nothing_is_sent(client, commune_a):
    # given an agent and a family waiting for its activation link
    agent = make_staff(commune_a, "agent@jolieville.test")
    make_family(commune_a, email="parent@example.fr", active=False)
    client.force_login(agent)
    # when the bulk activation form carries a NUL byte in its search
    response = client.post(
        commune_path(commune_a, "console/familles/activation/"), {"scope": "filtered", "q": "Mar\x00tin"}
    )
    # then it is refused and nothing is queued
    assert response.status_code == 400
    assert NUL_REFUSED in html.unescape(response.content.decode())
    assert not OutboxMessage.objects.exists()


# --- next: only a path of this site ------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "'", "%", "²", "tableau", "//evil.example/", "https://evil.example/"])
def test_a_next_that_is_not_a_path_of_the_site_goes_to_the_default(client, commune_a, value):
    # given a signed-in agent without an authenticator app
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    # when the code page is given a stray next
    response = client.get("/connexion/verification/", {"next": value})
    # then it goes to the dashboard
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_stray_next_at_sign_in_does_not_cost_the_code(client, commune_a):
    # given an agent with an authenticator app, signing in with ?next=tableau
    agent = make_staff(commune_a, "agent@jolieville.test")
    device, _codes = enable(agent)
    response = client.post(
        "/connexion/?next=tableau", {"username": agent.email, "password": PASSWORD, "next": "tableau"}
    )
    assert response.status_code == 302 and response["Location"] == "/connexion/verification/"
    # when the right code is given
    response = client.post("/connexion/verification/", {"code": current_code(device)})
    # then the session is signed in and goes to the dashboard
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(agent.pk)
    assert client.session["otp_device_id"] == device.persistent_id


def test_safe_next_keeps_paths_of_the_site(rf):
    request = rf.get("/")
    assert (
        safe_next(request, "/reservations/?semaine=2025-09-01#grille", "/")
        == "/reservations/?semaine=2025-09-01#grille"
    )
    assert safe_next(request, "/c/jolieville/console/", "/") == "/c/jolieville/console/"
    for value in ("", None, "0", "tableau", "//x.example/", "/\\x.example/", "/a\x00", "/" + "a" * 3000):
        assert safe_next(request, value, "/defaut/") == "/defaut/"
