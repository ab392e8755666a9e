"""Schemathesis against the live OpenAPI schema, the WSGI app in process, as a signed-in
family (a personal key): no 5xx, and every response conforms to the schema. Bounded and
derandomized, so that it runs in the suite in about a minute."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from foyer.wsgi import application
from shared_identity.services import create_personal_api_token
from tests.actualites.conftest import news
from tests.api.test_family_api import _invoice
from tests.reservations.conftest import enrol, family_in, make_catalogue


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # The WSGI handler closes the connection after each request, as Django's test client
    # avoids: keep the test's transaction open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def family_key(commune_a):
    canteen = make_catalogue(commune_a)
    membership = family_in(commune_a, "parent@example.fr")
    enrol(canteen, membership.family.children.get())
    # Something in every list: an invoice, a news item.
    _invoice(commune_a, membership.family)
    news(commune_a)
    _token, raw = create_personal_api_token(actor=membership.family.guardians.get().account, name="fuzz")
    return raw


def _live_schema() -> dict:
    """The schema /api/schema/ serves (same generator and URL conf), built without a request
    so that it loads at collection, before the database is there."""
    return SchemaGenerator(urlconf=spectacular_settings.SERVE_URLCONF).get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(_live_schema())
schema.app = application


@schema.parametrize()
@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, db, commune_a, commune_b, family_key):
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = "jolieville"
    case.call_and_validate(
        headers={"Authorization": f"Bearer {family_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
