"""No input is a 500: every URL the resolver knows, with hostile values in its path, its query
string and its form fields, as anonymous, family, agent, admin and operator.

The URLs are read from the URLConfs (the platform's, and one commune's under /c/<slug>/), so a
page added later is walked without touching this file. Integer arguments get the id of a real
object (the page then gets past its lookup), or a hostile number; other arguments get hostile
text. The form fields are those the page itself shows (``name="…"`` in its HTML) plus the names
pages commonly read from the query string. Hypothesis draws the values, from a fixed seed
(``derandomize``): the walk is the same on every run and in CI.
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.fake_mollie import TEST_KEY, FakeMollie
from foyer import urls_commune
from shared_identity.models import StaffRole
from tenants.models import Commune
from tests.conftest import commune_path, login_verified, make_operator, make_staff
from tests.test_console_access_matrix import make_objects

HOSTILE = [
    "9999-12-31",
    "0001-01-01",
    "31/12/9999",
    "2025-02-30",
    "\x00",
    "a\x00b",
    "99999999999999999999",
    "9223372036854775808",
    "-1",
    "-99999999999",
    "0",
    "²",
    "٣",
    "'",
    '"',
    "%",
    "%00",
    "' OR 1=1 --",
    "x" * 5000,
    "",
    " ",
    "1.5",
    "NaN",
    "1e309",
    "🙂",
    "<script>",
    "../../",
    "tableau",
    "//evil.example/",
    "https://evil.example/",
]
# Names pages read from the query string, whatever their form shows.
COMMON_FIELDS = [
    "next",
    "q",
    "page",
    "semaine",
    "date",
    "jour",
    "du",
    "au",
    "commune",
    "enfant",
    "statut",
    "id",
    "month",
    "mois",
]
# One of each kind, tried in every field of every page a role can open (the sweep); Hypothesis
# then mixes all of HOSTILE in the query string and the form fields.
SWEEP = ["9999-12-31", "0001-01-01", "\x00", "99999999999999999999", "-1", "²", "'", "%", "x" * 5000, ""]
PATH_INTS = ["0", "99999999999999999999", "9223372036854775808"]
PATH_TEXTS = ["x", "'", "²", "%25", "%00", "a" * 300]
ROLES = ("anonymous", "family", "agent", "admin", "operator")
EXAMPLES_PER_PATTERN = 2
_FIELD_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _routes() -> list[str]:
    """Every route: the platform's ("/…") and a commune's ("/c/{commune}/…")."""
    public = ["/" + route for route in _walk(get_resolver(settings.ROOT_URLCONF).url_patterns)]
    commune = [
        f"/{settings.FOYER_COMMUNE_PREFIX}/{{commune}}/" + route for route in _walk(urls_commune.urlpatterns)
    ]
    return sorted(set(public)) + sorted(set(commune))


ROUTES = _routes()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Commune A with one object of each kind and one account per role, built once for the
    module in a transaction rolled back at its end (each route's test rolls back its own
    writes in a savepoint). Mollie is the fake one."""
    with ExitStack() as stack:
        stack.enter_context(django_db_blocker.unblock())
        fake = stack.enter_context(FakeMollie("127.0.0.1", 0))
        fake.add_account(TEST_KEY, "Régie cantine – JolieVille")
        stack.enter_context(override_settings(MOLLIE_API_ENDPOINT=fake.base_url))
        stack.enter_context(transaction.atomic())
        commune = Commune.objects.get(slug="jolieville")
        objects = make_objects(commune)
        from shared_identity.models import Membership

        family = Membership.objects.get(pk=objects["membership_id"]).family
        objects["family_id"] = family.pk
        objects["commune_id"] = commune.pk
        accounts = {
            "family": family.guardians.get().account,
            "agent": make_staff(commune, "agent@jolieville.test"),
            "admin": make_staff(commune, "chef@jolieville.test", role=StaffRole.Role.ADMIN),
            "operator": make_operator("ops@foyer.test"),
        }
        yield {"commune": commune, "objects": objects, "accounts": accounts}
        transaction.set_rollback(True)


def _path_values(route: str, objects: dict) -> list[dict[str, str]]:
    """The values to put in the route's arguments: real ids first, then hostile numbers, then
    hostile text."""
    names = [(kind or "str", name) for kind, name in _CONVERTER.findall(route) if name != "commune"]
    real = {name: str(objects.get(name, 1)) if kind == "int" else "x" for kind, name in names}
    if not names:
        return [real]
    ints = [{**real, **{n: value for k, n in names if k == "int"}} for value in PATH_INTS]
    texts = [{**real, **{n: value for k, n in names if k != "int"}} for value in PATH_TEXTS]
    return [real] + [values for values in ints + texts if values != real]


def _fill(route: str, values: dict[str, str], commune: Commune) -> str:
    path = route.replace("{commune}", commune.slug)
    return _CONVERTER.sub(lambda match: values.get(match.group(2), "x"), path)


def _client(world: dict, role: str) -> Client:
    client = Client()
    if role == "operator":
        login_verified(client, world["accounts"][role])
    elif role != "anonymous":
        client.force_login(world["accounts"][role])
    return client


def _fields(client: Client, path: str) -> list[str] | None:
    """The fields of the page (its own and the common ones), or None when the role cannot
    open it."""
    response = client.get(path)
    if response.status_code != 200:
        return None
    html = b"" if response.streaming else response.content
    names = _FIELD_NAME.findall(html.decode(errors="replace"))
    return sorted({name for name in names if name != "csrfmiddlewaretoken"} | set(COMMON_FIELDS))


@pytest.mark.parametrize("route", ROUTES)
def test_no_input_is_a_server_error(route, world, db):
    # given the route filled with real ids, and a signed-in client per role
    commune, objects = world["commune"], world["objects"]
    clients = {role: _client(world, role) for role in ROLES}
    base = _fill(route, _path_values(route, objects)[0], commune)
    fields = {role: _fields(client, base) for role, client in clients.items()}
    path_choices = [_fill(route, values, commune) for values in _path_values(route, objects)]
    failures: list[tuple] = []
    # when each page a role can open is asked with one hostile value in every field
    for role, names in fields.items():
        for value in SWEEP if names else ():
            response = clients[role].get(base, dict.fromkeys(names, value))
            # then it answers, whatever it says
            if response.status_code >= 500:
                failures.append((role, "sweep", base, value[:20], response.status_code))

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_PATTERN,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        path=st.sampled_from(path_choices),
        picks=st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(HOSTILE)), min_size=1, max_size=8),
        fill=st.sampled_from(HOSTILE),
    )
    def probe(path, picks, fill):
        for role, client in clients.items():
            names = fields[role] or COMMON_FIELDS
            # every field gets ``fill``, and some of them another hostile value
            data = {name: fill for name in names}
            for index, value in picks:
                data[names[index % len(names)]] = value
            # when the page is asked with them, and sent them
            for method in (client.get, client.post):
                response = method(path, data)
                # then it answers, whatever it says
                if response.status_code >= 500:
                    failures.append((role, method.__name__, path, data, response.status_code))

    probe()
    assert failures == []


def test_the_walk_covers_every_kind_of_page():
    # given the routes the walk reads from the URLConfs, then it has the pages of each interface
    assert len(ROUTES) >= 200
    for expected in (
        "/reservations/",
        "/api/reservations/semaine/",
        "/calendrier/<str:token>.ics",
        "/operateur/",
        commune_path(Commune(slug="{commune}"), "console/journal/"),
        commune_path(Commune(slug="{commune}"), "paiement/webhook/<str:token>/"),
    ):
        assert expected in ROUTES, expected
