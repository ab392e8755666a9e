"""Data rights (RGPD): "Télécharger mes données" (a ZIP built by a task, downloadable by its
account only, for 7 days) and "Supprimer mon compte" (anonymisation once no invoice is open
in any commune; invoices stay as issued)."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import zipfile
from decimal import Decimal

from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.utils import timezone

from actualites.models import NewsItem, NewsRead
from billing import services as billing_services
from billing.models import Invoice
from demandes.services import submit_request
from family import data_rights
from family.tasks import complete_pending_deletions, expire_data_exports
from reservations.models import Booking, CancellationRequest
from shared_identity.models import (
    Account,
    Child,
    DataExport,
    DeletionRequest,
    Family,
    Guardian,
    Membership,
    StaffRole,
)
from tenants.context import commune_context
from tests.conftest import PASSWORD, make_account, make_family
from tests.reservations.conftest import make_catalogue
from tests.test_profile import PDF, address_category, family_in_both, private_files, stored_files

__all__ = ["private_files"]  # the fixture, imported for these tests


def page(response) -> str:
    return html.unescape(response.content.decode())


def _bookings(commune, family, days, code="REPAS", price="4.05") -> list[Booking]:
    canteen = make_catalogue(commune, code=code, price=price)
    with commune_context(commune):
        return [
            Booking.objects.create(
                child=family.children.get(),
                family=family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=dt.date(2027, 1, day),
                status="confirmed",
                price=Decimal(price),
            )
            for day in days
        ]


def _invoice(commune) -> list[Invoice]:
    """Issue January's invoices of the commune (every family with bookings)."""
    with commune_context(commune):
        run = billing_services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        billing_services.issue_invoicing_run(run_id=run.pk)
        return list(Invoice.objects.order_by("family_id"))


def _export(client, capture) -> DataExport:
    with capture(execute=True):
        response = client.post("/compte/donnees/")
    assert response.status_code == 302
    return DataExport.objects.get()


def _download(client, export) -> bytes:
    response = client.get(f"/compte/donnees/{export.pk}/")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


# --- "Télécharger mes données" -------------------------------------------------------------------


def test_the_archive_holds_the_family_in_both_communes_and_nothing_of_another_family(
    client, commune_a, commune_b, private_files, django_capture_on_commit_callbacks
):
    # given a family in two communes, with bookings, invoices, a payment, a cancellation
    # request with its certificate, a request with its proof and a news item read
    family = family_in_both(commune_a, commune_b)
    family.address_line, family.postcode, family.city = "12 rue des Lilas", "38000", "Grenoble"
    family.save()
    account = family.guardians.get().account
    other = make_family(commune_a, email="other@example.fr", name="Durand", dossier="F00002").family
    _bookings(commune_a, family, (4, 5))
    _bookings(commune_b, family, (6,), code="GARD", price="2.50")
    [mine_b] = _invoice(commune_b)
    with commune_context(commune_a):
        other_booking = Booking.objects.create(
            child=other.children.get(),
            family=other,
            prestation=Booking.objects.first().prestation,
            site=Booking.objects.first().site,
            date=dt.date(2027, 1, 7),
            status="confirmed",
            price=Decimal("4.05"),
        )
    mine_a, other_invoice = _invoice(commune_a)
    with commune_context(commune_b):
        billing_services.record_payment(
            invoice_id=mine_b.pk, method="check", amount=Decimal("2.50"), reference="CHQ 1"
        )
    with commune_context(commune_a):
        certificate = CancellationRequest(
            booking=Booking.objects.filter(family=family).first(),
            family=family,
            account=account,
            reason="Malade",
        )
        certificate.attachment.save("certificat.pdf", ContentFile(PDF), save=False)
        certificate.save()
        theirs = CancellationRequest(
            booking=other_booking, family=other, account=other.guardians.get().account
        )
        theirs.reason = "Secret des Durand"
        theirs.attachment.save("durand.pdf", ContentFile(PDF + b"durand"), save=False)
        theirs.save()
        item = NewsItem.objects.create(title="Fête de l'école", body="Le 20 juin.", publish_at=timezone.now())
        NewsRead.objects.create(item=item, account=account)
    with commune_context(commune_b):
        request = submit_request(
            family=family,
            actor=account,
            category=address_category(commune_b),
            answers={"address_line": "12 rue des Lilas", "postcode": "38000", "city": "Grenoble"},
            attachments=[("justificatif_domicile", SimpleUploadedFile("EDF janvier.pdf", PDF + b"edf"))],
        )
        proof_name = (
            f"pieces-jointes/demo/demandes/{request.pk}-{request.attachments.get().pk}-EDF-janvier.pdf"
        )
    client.force_login(account)
    mail.outbox.clear()
    # when the guardian asks for their data (the task runs after commit)
    export = _export(client, django_capture_on_commit_callbacks)
    # then the archive is ready, stored outside any commune's folder, and announced by e-mail
    assert export.status == "ready"
    assert re.fullmatch(r"exports/[\w-]+\.zip", export.file_name)
    assert export.expires_at == export.ready_at + dt.timedelta(days=7)
    assert [m.to for m in mail.outbox] == [["parent@example.fr"]]
    assert mail.outbox[0].subject == "Vos données Foyer sont prêtes"
    assert f"http://testserver/compte/donnees/{export.pk}/" in mail.outbox[0].body
    assert "Archive du" in page(client.get("/compte/"))
    # and it holds everything about the family, in both communes
    archive = zipfile.ZipFile(io.BytesIO(_download(client, export)))
    names = sorted(archive.namelist())
    assert names == [
        "LISEZMOI.txt",
        "donnees.json",
        proof_name,
        f"pieces-jointes/jolieville/annulations/{certificate.pk}-{certificate.attachment.name.rsplit('/', 1)[1]}",
    ]
    assert archive.read(names[2]) == PDF + b"edf"
    assert archive.read(names[3]) == PDF
    data = json.loads(archive.read("donnees.json"))
    assert data["account"]["email"] == "parent@example.fr"
    assert data["families"][0]["address_line"] == "12 rue des Lilas"
    assert [m["commune"] for m in data["families"][0]["memberships"]] == [
        "Collectivité Démo",
        "Commune de JolieVille",
    ]
    by_commune = {c["commune"]["slug"]: c for c in data["communes"]}
    assert sorted(by_commune) == ["demo", "jolieville"]
    jolieville, demo = by_commune["jolieville"], by_commune["demo"]
    assert [b["date"] for b in jolieville["bookings"]] == ["2027-01-04", "2027-01-05"]
    assert [i["reference"] for i in jolieville["invoices"]] == [mine_a.reference]
    assert jolieville["invoices"][0]["total"] == "8.10"
    assert [i["reference"] for i in demo["invoices"]] == [mine_b.reference]
    assert demo["invoices"][0]["payments"] == [
        {
            "method": "check",
            "amount": "2.50",
            "received_at": demo["invoices"][0]["payments"][0]["received_at"],
            "reference": "CHQ 1",
        }
    ]
    assert [r["reason"] for r in jolieville["cancellation_requests"]] == ["Malade"]
    assert [n["item__title"] for n in jolieville["news_read"]] == ["Fête de l'école"]
    assert [r["title"] for r in demo["requests"]] == ["Changement d'adresse"]
    assert demo["requests"][0]["attachments"][0]["archive_path"] == names[2]
    assert [e["kind"] for e in demo["requests"][0]["events"]] == ["created"]
    # and nothing of the other family
    raw = archive.read("donnees.json").decode()
    assert "Durand" not in raw and "other@example.fr" not in raw and other_invoice.reference not in raw
    assert all("durand" not in name for name in names)


def test_only_its_account_downloads_the_archive_until_it_expires(
    client, commune_a, private_files, django_capture_on_commit_callbacks
):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    other = make_family(commune_a, email="other@example.fr", name="Durand", dossier="F00002")
    client.force_login(account)
    export = _export(client, django_capture_on_commit_callbacks)
    assert zipfile.ZipFile(io.BytesIO(_download(client, export))).namelist() == [
        "donnees.json",
        "LISEZMOI.txt",
    ]
    # another family's guardian: not found; signed out: the login page
    client.force_login(other.family.guardians.get().account)
    assert client.get(f"/compte/donnees/{export.pk}/").status_code == 404
    client.logout()
    assert client.get(f"/compte/donnees/{export.pk}/")["Location"].startswith("/connexion/")
    # after 7 days the daily task deletes it
    assert stored_files(private_files) == [export.file_name]
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_data_exports.apply().get() == 0
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_data_exports.apply().get() == 1
    export.refresh_from_db()
    assert export.status == "expired"
    assert stored_files(private_files) == []
    client.force_login(account)
    assert client.get(f"/compte/donnees/{export.pk}/").status_code == 404


def test_asking_twice_while_it_is_prepared_makes_one_archive(client, commune_a, private_files):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    client.post("/compte/donnees/")  # the task waits for the commit (never, here)
    client.post("/compte/donnees/")
    assert list(DataExport.objects.values_list("status", flat=True)) == ["pending"]
    assert "en préparation" in page(client.get("/compte/"))


# --- "Supprimer mon compte" --------------------------------------------------------------------


def _delete(client, capture, password=PASSWORD, confirmed=True):
    data = {"password": password}
    if confirmed:
        data["confirmed"] = "on"
    with capture(execute=True):
        return client.post("/compte/suppression/", data)


def _assert_anonymised(account: Account, family: Family) -> None:
    account.refresh_from_db()
    assert (account.email, account.first_name, account.last_name, account.phone) == (
        f"compte-supprime-{account.pk}@anonyme.invalid",
        "",
        "",
        "",
    )
    assert account.is_active is False and account.has_usable_password() is False
    family.refresh_from_db()
    assert (family.name, family.address_line, family.postcode, family.city, family.home_phone) == (
        "Famille anonymisée",
        "",
        "",
        "",
        "",
    )
    guardians = list(
        Guardian.objects.filter(family=family).values("first_name", "last_name", "email", "phone", "account")
    )
    assert guardians == [
        {
            "first_name": "Responsable",
            "last_name": "anonymisé",
            "email": f"responsable-{Guardian.objects.get(family=family).pk}@anonyme.invalid",
            "phone": "",
            "account": None,
        }
    ]
    child = Child.objects.get(family=family)
    assert (child.first_name, child.last_name, child.birth_date) == (
        "Enfant",
        "anonymisé",
        dt.date(2017, 1, 1),
    )
    assert set(Membership.objects.filter(family=family).values_list("status", flat=True)) == {"suspended"}


def test_deletion_waits_for_an_open_invoice_then_completes_when_it_is_paid(
    client, commune_a, commune_b, django_capture_on_commit_callbacks
):
    # given a family in two communes with an unpaid invoice in the second one
    family = family_in_both(commune_a, commune_b)
    family.address_line, family.postcode, family.city = "12 rue des Lilas", "38000", "Grenoble"
    family.save()
    account = family.guardians.get().account
    _bookings(commune_b, family, (4, 5))
    [invoice] = _invoice(commune_b)
    client.force_login(account)
    mail.outbox.clear()
    # when the guardian asks to delete the account
    response = _delete(client, django_capture_on_commit_callbacks)
    # then the request waits, saying which invoice and when the deletion will happen
    assert response.status_code == 302
    text = page(client.get("/compte/suppression/"))
    assert (
        f"Collectivité Démo — facture {invoice.reference} : 8,10\u00a0€ à payer avant le "
        f"{invoice.due_date:%d/%m/%Y}" in text
    )
    assert "dans la nuit qui suit le paiement de la dernière" in text
    assert DeletionRequest.objects.get().status == "pending"
    account.refresh_from_db()
    assert (account.is_active, account.email) == (True, "parent@example.fr")
    assert [m.subject for m in mail.outbox] == ["Votre demande de suppression de compte Foyer"]
    # and the nightly task leaves it while the invoice is open
    assert complete_pending_deletions.apply().get() == 0
    # when the invoice is paid, the nightly task completes the deletion
    with commune_context(commune_b):
        billing_services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("8.10"))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert complete_pending_deletions.apply().get() == 1
    deletion = DeletionRequest.objects.get()
    assert deletion.status == "completed" and deletion.completed_at is not None
    _assert_anonymised(account, family)
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["parent@example.fr"], "Votre compte Foyer est supprimé")
    ]
    # the invoice is kept as it was issued
    with commune_context(commune_b):
        kept = Invoice.objects.get(pk=invoice.pk)
    assert (kept.payer_name, kept.payer_address, kept.reference, kept.total, kept.status) == (
        "Camille MARTIN",
        "12 rue des Lilas\n38000 Grenoble",
        invoice.reference,
        Decimal("8.10"),
        "paid",
    )
    # and the old login no longer works
    client.logout()
    assert not client.login(request=HttpRequest(), username="parent@example.fr", password=PASSWORD)


def test_deletion_without_open_invoice_is_immediate_and_signs_out(
    client, commune_a, django_capture_on_commit_callbacks
):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    client.force_login(account)
    response = _delete(client, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "Votre compte est supprimé" in page(response)
    _assert_anonymised(account, family)
    assert client.get("/compte/").status_code == 302


def test_when_the_other_guardian_keeps_their_account_only_i_leave_the_family(
    client, commune_a, django_capture_on_commit_callbacks
):
    family = make_family(commune_a, email="parent@example.fr").family
    leaving = family.guardians.get().account
    staying = make_account("alex@example.fr", first_name="Alex", last_name="Durand")
    Guardian.objects.create(
        family=family, account=staying, first_name="Alex", last_name="Durand", email="alex@example.fr"
    )
    client.force_login(leaving)
    _delete(client, django_capture_on_commit_callbacks)
    leaving.refresh_from_db()
    assert (leaving.is_active, leaving.email) == (False, f"compte-supprime-{leaving.pk}@anonyme.invalid")
    family.refresh_from_db()
    assert family.name == "Martin"
    assert list(family.guardians.values_list("email", "account")) == [("alex@example.fr", staying.pk)]
    assert list(family.children.values_list("first_name", flat=True)) == ["Léa"]
    assert Membership.objects.get(family=family).status == "active"


def test_a_wrong_password_or_no_confirmation_deletes_nothing(
    client, commune_a, django_capture_on_commit_callbacks
):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    mail.outbox.clear()
    wrong = page(_delete(client, django_capture_on_commit_callbacks, password="nope"))
    unconfirmed = page(_delete(client, django_capture_on_commit_callbacks, confirmed=False))
    assert "Mot de passe incorrect." in wrong
    assert "Cochez la case pour confirmer la suppression de votre compte." in unconfirmed
    assert not DeletionRequest.objects.exists()
    account.refresh_from_db()
    assert account.is_active and account.email == "parent@example.fr"
    assert mail.outbox == []


def test_a_pending_deletion_can_be_cancelled(client, commune_a, django_capture_on_commit_callbacks):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    _bookings(commune_a, family, (4,))
    _invoice(commune_a)
    client.force_login(account)
    _delete(client, django_capture_on_commit_callbacks)
    assert client.post("/compte/suppression/annuler/").status_code == 302
    assert DeletionRequest.objects.get().status == "cancelled"
    assert complete_pending_deletions.apply().get() == 0
    account.refresh_from_db()
    assert account.is_active


def test_a_staff_account_is_not_deleted_from_the_family_page(
    client, commune_a, django_capture_on_commit_callbacks
):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    StaffRole.objects.create(account=account, commune=commune_a, role=StaffRole.Role.AGENT)
    client.force_login(account)
    response = _delete(client, django_capture_on_commit_callbacks)
    assert "Ce compte est aussi celui d'un agent de commune" in page(response)
    assert not DeletionRequest.objects.exists()


def test_the_service_names_the_open_invoices(commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    _bookings(commune_a, family, (4,))
    [invoice] = _invoice(commune_a)
    deletion, open_invoices = data_rights.request_account_deletion(
        actor=account, password=PASSWORD, confirmed=True
    )
    assert deletion.status == "pending"
    assert [(i.commune.slug, i.reference, i.amount_due) for i in open_invoices] == [
        ("jolieville", invoice.reference, Decimal("4.05"))
    ]


def test_open_invoices_of_every_commune_are_read_in_one_query(
    commune_a, commune_b, django_assert_num_queries
):
    from family.router import list_open_invoices_of

    family = family_in_both(commune_a, commune_b)
    account = family.guardians.get().account
    _bookings(commune_a, family, (4,))
    _bookings(commune_b, family, (5,), code="GARD")
    [invoice_a], [invoice_b] = _invoice(commune_a), _invoice(commune_b)
    list_open_invoices_of(account)  # back in the public schema (django-tenants sets it lazily)
    with django_assert_num_queries(2):  # the memberships, then one UNION ALL over both schemas
        open_invoices = list_open_invoices_of(account)
    assert sorted(i.reference for i in open_invoices) == sorted([invoice_a.reference, invoice_b.reference])
