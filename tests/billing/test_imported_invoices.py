"""Invoices of the commune's own billing software ("mesfacturesonline"): imported from a CSV
with their PDFs, or pushed through the régie's API; families find and pay them like Foyer's
own; the payments are read back to reconcile."""

from __future__ import annotations

import html
import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.console_services import create_api_token, revoke_api_token
from billing.models import Invoice, Regie
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import family_in

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HEADER = "numero;dossier;date_emission;echeance;libelle;enfant;quantite;prix_unitaire;montant"


def page_text(response) -> str:
    """What the page says, tags left out."""
    return " ".join(re.sub(r"<[^>]+>", " ", html.unescape(response.content.decode())).split())


def _csv(*lines: str) -> bytes:
    return "\n".join([HEADER, *lines]).encode()


def _zip(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD = (
    "2027-FC-001;F00001;01/02/2027;28/02/2027;Garderie du soir;Léa;8;2,50;20,00",
    "2027-FC-001;F00001;01/02/2027;28/02/2027;Garderie du matin;Léa;3;1,80;5,40",
    "2027-FC-002;F00002;01/02/2027;28/02/2027;Accueil de loisirs;Tom;1;12,00;12,00",
)


@pytest.fixture
def imported(commune_a):
    """A régie of JolieVille whose invoices come from the commune's software, two families."""
    family_in(commune_a, "martin@example.fr")
    family_in(commune_a, "durand@example.fr", name="Durand", dossier="F00002")
    with commune_context(commune_a):
        return Regie.objects.create(name="Factures de la commune", regie_code="FC", source="imported")


def _upload(client, commune, regie, csv_data: bytes, zip_data: bytes | None = None):
    files = {"fichier": io.BytesIO(csv_data)}
    files["fichier"].name = "factures.csv"
    if zip_data is not None:
        files["pdfs"] = io.BytesIO(zip_data)
        files["pdfs"].name = "factures.zip"
    return client.post(commune_path(commune, f"console/facturation/regies/{regie.pk}/import/"), files)


def _import(client, commune, regie, csv_data, zip_data=None, **confirm):
    response = _upload(client, commune, regie, csv_data, zip_data)
    assert response.status_code == 302, page_text(response)
    preview = client.get(response["Location"])
    return preview, client.post(response["Location"], confirm)


def test_importing_the_same_file_twice_changes_nothing(
    client, commune_a, imported, django_capture_on_commit_callbacks
):
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        preview, done = _import(client, commune_a, imported, _csv(*GOOD), _zip(**{"2027-FC-001.pdf": PDF}))
    assert "2 factures à créer (37,40 €)" in page_text(preview)
    assert done.status_code == 302
    with commune_context(commune_a):
        first = list(Invoice.objects.filter(regie=imported).order_by("reference").values())
        invoice = Invoice.objects.get(reference="2027-FC-001")
        assert (invoice.status, invoice.source, invoice.total, invoice.number) == (
            "issued",
            "imported",
            Decimal("25.40"),
            None,
        )
        assert invoice.lines.count() == 2 and invoice.pdf
    assert len([m for m in mail.outbox if "nouvelle facture" in m.subject]) == 2
    # again
    preview, done = _import(client, commune_a, imported, _csv(*GOOD), _zip(**{"2027-FC-001.pdf": PDF}))
    assert "2 factures déjà importées à l'identique" in page_text(preview)
    with commune_context(commune_a):
        assert list(Invoice.objects.filter(regie=imported).order_by("reference").values()) == first


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        ("2027-FC-003;F00001;01/02/2027;28/02/2027;Repas;Léa;1;;douze", "ligne 5", "montant illisible"),
        (
            "2027-FC-003;F09999;01/02/2027;28/02/2027;Repas;Léa;1;;4,05",
            "ligne 5",
            "aucune famille n'a le dossier",
        ),
        ("2027-FC-001;F00002;01/02/2027;28/02/2027;Repas;Tom;1;;4,05", "ligne 5", "numéro en double"),
    ],
)
def test_a_bad_line_is_refused_with_its_line_number_and_nothing_is_written(
    client, commune_a, imported, line, where, message
):
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    preview, done = _import(client, commune_a, imported, _csv(*GOOD, line))
    text = page_text(preview)
    assert where in text and message in text
    assert "Rien n'est importé" in page_text(done)
    with commune_context(commune_a):
        assert not Invoice.objects.exists()


def test_an_invoice_already_imported_with_other_content_is_never_replaced(client, commune_a, imported):
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    _import(client, commune_a, imported, _csv(*GOOD))
    changed = GOOD[2].replace("12,00;12,00", "15,00;15,00")
    preview, done = _import(client, commune_a, imported, _csv(changed), only_valid="1")
    assert "déjà importée avec un autre contenu" in page_text(preview)
    with commune_context(commune_a):
        assert Invoice.objects.get(reference="2027-FC-002").total == Decimal("12.00")


def test_a_foyer_regie_refuses_an_import(client, commune_a, imported):
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    with commune_context(commune_a):
        foyer_regie = Regie.objects.get(source="foyer")
    response = _upload(client, commune_a, foyer_regie, _csv(*GOOD))
    assert response.status_code == 200
    assert "prépare ses factures dans Foyer" in page_text(response)


def test_the_family_sees_pays_and_downloads_an_imported_invoice(client, commune_a, imported):
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    _import(client, commune_a, imported, _csv(*GOOD), _zip(**{"2027-FC-001.pdf": PDF}))
    with commune_context(commune_a):
        invoice = Invoice.objects.get(reference="2027-FC-001")
    client.force_login(invoice.family.guardians.get().account)
    page = page_text(client.get("/factures/"))
    assert "Commune de JolieVille – Factures de la commune" in page and "(ref : 2027-FC-001)" in page
    assert "facture du logiciel de la commune" in page
    pdf = client.get(commune_path(commune_a, f"factures/{invoice.pk}/pdf/"))
    assert b"".join(pdf.streaming_content) == PDF
    # another family: 404
    other = Invoice.objects.none()
    with commune_context(commune_a):
        other = Invoice.objects.get(reference="2027-FC-002")
    assert client.get(commune_path(commune_a, f"factures/{other.pk}/pdf/")).status_code == 404


# --- The régie API ---------------------------------------------------------------------------------


def _key(commune, regie) -> str:
    with commune_context(commune):
        return create_api_token(regie_id=regie.pk, name="Logiciel de facturation")[1]


def _api(client, commune, path, key, method="get", **kwargs):
    call = getattr(client, method)
    return call(f"/c/{commune.slug}/api/regie/{path}", HTTP_AUTHORIZATION=f"Bearer {key}", **kwargs)


API_INVOICE = {
    "numero": "2027-FC-100",
    "dossier": "F00001",
    "date_emission": "2027-02-01",
    "echeance": "2027-02-28",
    "lignes": [{"libelle": "Garderie", "montant": "20.00", "quantite": 8, "prix_unitaire": "2.50"}],
}


def test_the_software_pushes_invoices_idempotently_and_reads_payments_back(
    client, commune_a, imported, django_capture_on_commit_callbacks
):
    key = _key(commune_a, imported)
    bad = {**API_INVOICE, "numero": "2027-FC-101", "dossier": "F09999"}
    response = _api(
        client, commune_a, "factures/", key, "post", data=[API_INVOICE, bad], content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["crees"] == ["2027-FC-100"] and body["inchanges"] == []
    assert body["refuses"][0]["numero"] == "2027-FC-101" and "aucune famille" in body["refuses"][0]["erreur"]
    again = _api(
        client, commune_a, "factures/", key, "post", data=[API_INVOICE], content_type="application/json"
    )
    assert again.status_code == 200 and again.json()["inchanges"] == ["2027-FC-100"]
    pdf = _api(
        client, commune_a, "factures/2027-FC-100/pdf/", key, "put", data=PDF, content_type="application/pdf"
    )
    assert pdf.status_code == 200 and pdf.json()["pdf"] is True
    assert (
        _api(
            client,
            commune_a,
            "factures/2027-FC-100/pdf/",
            key,
            "put",
            data=b"nope",
            content_type="application/pdf",
        ).status_code
        == 400
    )
    # a counter payment, then read back
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        invoice = Invoice.objects.get(reference="2027-FC-100")
        services.record_payment(
            invoice_id=invoice.pk, method="check", amount=Decimal("20.00"), reference="chq 7"
        )
    detail = _api(client, commune_a, "factures/2027-FC-100/", key).json()
    assert (detail["statut"], detail["paye"], detail["reste_a_payer"]) == ("payee", "20.00", "0.00")
    with CaptureQueriesContext(connection) as queries:
        payments = _api(client, commune_a, "paiements/?depuis=2020-01-01", key).json()["paiements"]
    assert len(queries) <= 6
    assert payments[0]["mode"] == "check" and payments[0]["objet"][0]["facture"] == "2027-FC-100"
    with CaptureQueriesContext(connection) as queries:
        listed = _api(client, commune_a, "factures/", key).json()["factures"]
    assert [i["numero"] for i in listed] == ["2027-FC-100"] and len(queries) <= 6


def test_a_key_opens_its_regie_only(client, commune_a, commune_b, imported):
    key = _key(commune_a, imported)
    with commune_context(commune_a):
        other_regie = Regie.objects.create(name="Autre", regie_code="AU", source="imported")
    other_key = _key(commune_a, other_regie)
    _api(client, commune_a, "factures/", key, "post", data=[API_INVOICE], content_type="application/json")
    # régie B's key does not see régie A's invoice, nor write into it
    assert _api(client, commune_a, "factures/2027-FC-100/", other_key).status_code == 404
    assert _api(client, commune_a, "factures/", other_key).json()["factures"] == []
    # another commune: the key is unknown there
    assert _api(client, commune_b, "factures/", key).status_code == 401
    # no key, a bad key, a session: refused
    assert client.get(f"/c/{commune_a.slug}/api/regie/factures/").status_code in (401, 403)
    assert _api(client, commune_a, "factures/", "foyer_rt_wrong").status_code == 401
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    assert client.get(f"/c/{commune_a.slug}/api/regie/factures/").status_code in (401, 403)
    # a revoked key
    with commune_context(commune_a):
        token = imported.api_tokens.get()
        revoke_api_token(regie_id=imported.pk, token_id=token.pk)
    assert _api(client, commune_a, "factures/", key).status_code == 401


def test_an_admin_creates_and_revokes_keys_and_agents_cannot(client, commune_a, imported):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    url = commune_path(commune_a, f"console/facturation/regies/{imported.pk}/cles-api/")
    page = page_text(client.post(url, {"name": "Logiciel Berger"}))
    assert "Copiez-la maintenant" in page and "foyer_rt_" in page
    with commune_context(commune_a):
        token = imported.api_tokens.get()
        assert token.key_hash not in page
    client.post(f"{url}{token.pk}/revoquer/")
    with commune_context(commune_a):
        token.refresh_from_db()
        assert token.revoked_at is not None
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    assert client.get(url).status_code == 403


def test_the_payments_export_gives_the_receipts_of_the_regie(client, commune_a, imported):
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    _import(client, commune_a, imported, _csv(*GOOD))
    with commune_context(commune_a):
        invoice = Invoice.objects.get(reference="2027-FC-002")
        receipt = services.record_payment(
            invoice_id=invoice.pk, method="cash", amount=Decimal("12.00")
        ).receipt
    response = client.get(
        commune_path(commune_a, f"console/facturation/regies/{imported.pk}/paiements/?export=1")
    )
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0] == "date;recu;mode;reference_paiement;payeur;objet;facture;montant"
    assert receipt.reference in lines[1] and "2027-FC-002" in lines[1] and lines[1].endswith(";12,00")
