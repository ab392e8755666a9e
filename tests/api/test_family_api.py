"""The family API's new endpoints (invoices, payments, period, cancellation requests, account),
personal API keys, and the OpenAPI schema with its documentation page."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.test import Client

from billing import services as billing_services
from billing.models import Invoice
from reservations.models import Booking, CancellationRequest, CartItem
from shared_identity.models import PersonalApiToken
from shared_identity.services import create_personal_api_token
from tenants.context import commune_context
from tests.conftest import commune_path, make_family
from tests.reservations.conftest import enrol, family_in, make_catalogue


def _invoice(commune, family, price="4.05") -> Invoice:
    canteen = make_catalogue(commune, code=f"R{commune.pk}", price=price)
    with commune_context(commune):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=Decimal(price),
        )
        run = billing_services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        billing_services.issue_invoicing_run(run_id=run.pk)
        return Invoice.objects.get()


def _token(client, account) -> str:
    client.force_login(account)
    response = client.post("/api/compte/cles/", {"name": "Mon tableur"}, content_type="application/json")
    assert response.status_code == 201
    client.logout()
    return response.json()["key"]


def test_invoices_list_detail_pdf_and_hide(client, commune_a, commune_b):
    # given an invoice in commune A
    family = family_in(commune_a, "parent@example.fr").family
    invoice = _invoice(commune_a, family)
    client.force_login(family.guardians.get().account)
    # when / then
    lists = client.get("/api/factures/").json()
    assert [i["key"] for i in lists["to_pay"]] == [f"jolieville:{invoice.pk}"]
    assert lists["to_pay_total"] == "4.05" and lists["paid"] == [] and lists["hidden"] == []
    detail = client.get(commune_path(commune_a, f"api/factures/{invoice.pk}/")).json()
    assert detail["reference"] == invoice.reference and detail["amount_due"] == "4.05"
    assert detail["lines"][0]["amount"] == "4.05"
    pdf = client.get(commune_path(commune_a, f"api/factures/{invoice.pk}/pdf/"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    hidden = client.post(
        commune_path(commune_a, f"api/factures/{invoice.pk}/visibilite/"),
        {"hidden": True},
        content_type="application/json",
    )
    assert hidden.json() == {"id": invoice.pk, "reference": invoice.reference, "hidden": True}
    lists = client.get("/api/factures/").json()
    assert lists["to_pay"] == [] and lists["hidden_unpaid_total"] == "4.05"


def test_invoice_of_another_commune_or_family_is_404(client, commune_a, commune_b):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = _invoice(commune_a, family)
    other = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(other.family.guardians.get().account)
    for path in (f"api/factures/{invoice.pk}/", f"api/factures/{invoice.pk}/pdf/"):
        response = client.get(commune_path(commune_a, path))
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    refused = client.post(
        commune_path(commune_a, f"api/factures/{invoice.pk}/visibilite/"),
        {"hidden": True},
        content_type="application/json",
    )
    assert refused.status_code == 404
    # the family itself, through the other commune's address
    client.force_login(family.guardians.get().account)
    assert client.get(commune_path(commune_b, f"api/factures/{invoice.pk}/")).status_code == 404
    with commune_context(commune_a):
        assert Invoice.objects.get().hidden_by_family is False


def test_paying_offline_invoices_is_refused_with_the_error_format(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    client.force_login(family.guardians.get().account)
    response = client.post(
        "/api/paiements/", {"invoices": ["jolieville:999"]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "nothing_selected"
    assert client.get("/api/paiements/999/").status_code == 404


def test_period_booking_and_cancellation_request(client, commune_a, commune_b):
    canteen = make_catalogue(commune_a)
    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    enrol(canteen, child)
    client.force_login(membership.family.guardians.get().account)
    start = dt.date.today() + dt.timedelta(days=14)
    response = client.post(
        commune_path(commune_a, "api/reservations/periode/"),
        {
            "prestation": canteen.prestation.pk,
            "children": [child.pk],
            "start": start,
            "end": start + dt.timedelta(6),
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["action"] == "add" and body["added"] > 0
    with commune_context(commune_a):
        assert CartItem.objects.count() == body["added"]
    # a child of another family is refused, and nothing is added
    other = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    refused = client.post(
        commune_path(commune_a, "api/reservations/periode/"),
        {
            "prestation": canteen.prestation.pk,
            "children": [other.family.children.get().pk],
            "start": start,
            "end": start,
        },
        content_type="application/json",
    )
    assert refused.status_code == 400 and refused.json()["extra"]["fields"]["children"]
    with commune_context(commune_a):
        assert CartItem.objects.count() == body["added"]
        booking = Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date.today() - dt.timedelta(days=1),
            status="confirmed",
            price=Decimal("4.05"),
        )
    # a cancellation request, and the same booking through commune B is 404
    assert (
        client.post(
            commune_path(commune_b, f"api/reservations/{booking.pk}/demande-annulation/"),
            {"reason": "Malade"},
        ).status_code
        == 404
    )
    created = client.post(
        commune_path(commune_a, f"api/reservations/{booking.pk}/demande-annulation/"), {"reason": "Malade"}
    )
    assert created.status_code == 201 and created.json()["booking"] == booking.pk
    again = client.post(
        commune_path(commune_a, f"api/reservations/{booking.pk}/demande-annulation/"), {"reason": "Malade"}
    )
    assert again.status_code == 409 and again.json()["code"] == "request_pending"
    with commune_context(commune_a):
        assert CancellationRequest.objects.count() == 1
    listed = client.get("/api/annulations/").json()["requests"]
    assert [(r["commune"], r["booking"]) for r in listed] == [("jolieville", booking.pk)]


def test_personal_token_authenticates_without_csrf_and_is_revocable(commune_a):
    membership = family_in(commune_a, "parent@example.fr")
    account = membership.family.guardians.get().account
    client = Client(enforce_csrf_checks=True)
    _token_object, raw = create_personal_api_token(actor=account, name="Mon tableur")
    # then only the hash is stored
    token = PersonalApiToken.objects.get()
    assert raw.startswith("foyer_pt_") and token.key_hash != raw and raw not in token.prefix + token.key_hash
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/profil/", **headers).json()["email"] == "parent@example.fr"
    # an unsafe request with the key needs no CSRF token
    created = client.post(
        "/api/compte/cles/", {"name": "Deuxième"}, content_type="application/json", **headers
    )
    assert created.status_code == 201
    # a session request without the CSRF token is refused and creates nothing
    client.force_login(account)
    refused = client.post("/api/compte/cles/", {"name": "Sans CSRF"}, content_type="application/json")
    assert refused.status_code == 403 and PersonalApiToken.objects.count() == 2
    client.logout()
    # revoked, the key opens nothing
    assert client.delete(f"/api/compte/cles/{token.pk}/", **headers).status_code == 204
    denied = client.get("/api/profil/", **headers)
    assert denied.status_code == 401 and denied.json()["code"] == "not_authenticated"
    # a régie key is not a personal key
    assert client.get("/api/profil/", HTTP_AUTHORIZATION="Bearer foyer_rt_abc").status_code == 401


def test_another_accounts_token_cannot_be_revoked(client, commune_a):
    first = family_in(commune_a, "parent@example.fr").family.guardians.get().account
    other = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    _token(client, first)
    client.force_login(other.family.guardians.get().account)
    token = PersonalApiToken.objects.get()
    assert client.delete(f"/api/compte/cles/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_calendar_link_and_guardian_invitation(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    client.force_login(family.guardians.get().account)
    assert client.get(f"/api/profil/familles/{family.pk}/calendrier/").json() == {
        "family": family.pk,
        "url": None,
    }
    url = client.post(f"/api/profil/familles/{family.pk}/calendrier/").json()["url"]
    assert url.startswith("http://testserver/calendrier/") and url.endswith(".ics")
    assert client.get(url).status_code == 200
    assert client.delete(f"/api/profil/familles/{family.pk}/calendrier/").json()["url"] is None
    assert client.get(url).status_code == 404
    invited = client.post(
        f"/api/profil/familles/{family.pk}/invitation/",
        {"email": "second@example.fr"},
        content_type="application/json",
    )
    assert invited.status_code == 201 and invited.json()["email"] == "second@example.fr"
    other = make_family(commune_a, email="autre@example.fr", name="Durand", dossier="F00002")
    assert client.get(f"/api/profil/familles/{other.family.pk}/calendrier/").status_code == 404


def test_data_export_and_deletion_requests(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    client.force_login(family.guardians.get().account)
    export = client.post("/api/compte/donnees/")
    assert export.status_code == 202 and export.json()["status"] in ("pending", "ready")
    assert client.get(f"/api/compte/donnees/{export.json()['id']}/").json()["id"] == export.json()["id"]
    refused = client.post(
        "/api/compte/suppression/", {"password": "faux", "confirmed": True}, content_type="application/json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    assert client.get("/api/compte/suppression/").json()["status"] == "none"


def test_schema_and_documentation_are_served_without_a_cdn(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    client.force_login(family.guardians.get().account)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    assert (
        "/api/factures/" in schema["paths"] and "/c/{slug}/api/factures/{invoice_id}/pdf/" in schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["personalToken"]["scheme"] == "bearer"
    assert "404" in schema["paths"]["/c/{slug}/api/factures/{invoice_id}/"]["get"]["responses"]
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn.jsdelivr" not in docs and "unpkg" not in docs
    # no inline script (a strict Content-Security-Policy): every script is a file of ours
    scripts = re.findall(r"<script([^>]*)>", docs)
    assert scripts and all(re.fullmatch(r' src="/(static|api/docs)/[^"]*"', attrs) for attrs in scripts)
    init = client.get("/api/docs/?script=")
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")


def test_a_suspended_communes_invoices_stay_readable_through_the_api(client, commune_a):
    from operators.services import suspend_commune

    family = family_in(commune_a, "parent@example.fr").family
    invoice = _invoice(commune_a, family)
    suspend_commune(commune=commune_a, reason="Migration du logiciel.")
    client.force_login(family.guardians.get().account)
    assert client.get(commune_path(commune_a, f"api/factures/{invoice.pk}/")).json()["id"] == invoice.pk
    assert client.get(commune_path(commune_a, f"api/factures/{invoice.pk}/pdf/")).status_code == 200
    # bookings stay closed, said in the API's error format with the operator's reason
    closed = client.post(commune_path(commune_a, "api/reservations/periode/"), {})
    assert closed.status_code == 503
    assert closed.json() == {
        "code": "commune_suspended",
        "message": "L'espace famille de Commune de JolieVille est suspendu.",
        "extra": {"reason": "Migration du logiciel."},
    }
    # and the yearly attestations stay reachable (none here: nothing paid, so "not found")
    attestation = client.get(commune_path(commune_a, f"api/attestations/{family.pk}/2026/paiements/pdf/"))
    assert attestation.status_code == 404 and attestation.json()["code"] == "not_found"
