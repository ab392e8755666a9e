"""Receipts and credit notes: numbered in their régie's series, e-mailed (the PDF attached) to
the guardians who want billing e-mails, listed to the family across its communes."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import payments, services
from billing.models import PaymentAttempt, Receipt
from billing.pdf import render_credit_note_pdf, render_receipt_pdf
from shared_identity.models import Account
from tenants.context import commune_context
from tests.billing.conftest import issue_january
from tests.billing.test_payments import _online, _pay
from tests.conftest import commune_path
from tests.reservations.conftest import family_in, make_catalogue


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _receipt_mails():
    return [m for m in mail.outbox if "reçu de paiement" in m.subject]


def test_a_counter_payment_gets_a_numbered_receipt_e_mailed_with_its_pdf(
    commune_a, django_capture_on_commit_callbacks
):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = issue_january(make_catalogue(commune_a), family)
    mail.outbox.clear()
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        first = services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("1.05"))
        second = services.record_payment(invoice_id=invoice.pk, method="check", amount=Decimal("3.00"))
    assert (first.receipt.number, first.receipt.reference) == (1, f"RC{first.receipt.year}-RG-00001")
    assert second.receipt.number == 2
    assert second.receipt.items == [
        {
            "label": f"Facture {invoice.reference}",
            "amount": "3.00",
            "invoice_id": invoice.pk,
            "invoice_reference": invoice.reference,
        }
    ]
    sent = _receipt_mails()
    assert len(sent) == 2 and sent[0].to == ["parent@example.fr"]
    name, content, mimetype = sent[1].attachments[0]
    assert (name, mimetype) == (f"recu-{second.receipt.reference}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    assert "3,00\u00a0€" in sent[1].body and "Chèque" in sent[1].body


def test_no_receipt_e_mail_to_a_guardian_who_turned_billing_e_mails_off(
    commune_a, django_capture_on_commit_callbacks
):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = issue_january(make_catalogue(commune_a), family)
    Account.objects.filter(email="parent@example.fr").update(notify_invoices=False)
    mail.outbox.clear()
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        payment = services.record_payment(invoice_id=invoice.pk, method="cash", amount=invoice.total)
    assert payment.receipt is not None
    assert _receipt_mails() == []


def test_an_online_payment_gets_one_receipt_for_what_it_settled(
    client, commune_a, mollie, django_capture_on_commit_callbacks
):
    _online(commune_a)
    invoice = issue_january(make_catalogue(commune_a), family_in(commune_a, "parent@example.fr").family)
    _pay(client, commune_a, invoice)
    mail.outbox.clear()
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        attempt = PaymentAttempt.objects.get()
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        receipt = Receipt.objects.get()
        assert (receipt.attempt_id, receipt.amount, receipt.method) == (attempt.pk, invoice.total, "online")
        assert receipt.provider_reference == attempt.provider_id
        assert list(invoice.payments.values_list("receipt_id", flat=True)) == [receipt.pk]
    assert len(_receipt_mails()) == 1


def test_the_receipt_and_credit_note_pdfs_say_what_they_are(commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = issue_january(make_catalogue(commune_a), family)
    with commune_context(commune_a):
        receipt = services.record_payment(invoice_id=invoice.pk, method="cash", amount=invoice.total).receipt
        note = services.issue_credit_note(
            invoice_id=invoice.pk, amount=Decimal("1.00"), reason="repas non servi"
        )
        receipt_pdf = render_receipt_pdf(receipt=receipt, commune=commune_a, compress=False)
        note_pdf = render_credit_note_pdf(note=note, commune=commune_a, compress=False)
    for text in (receipt.reference, invoice.reference, "gie principale", "code RG"):
        assert text.encode("latin-1") in receipt_pdf, text
    for text in (note.reference, invoice.reference, "repas non servi"):
        assert text.encode("latin-1") in note_pdf, text


def test_mes_recus_et_avoirs_lists_both_communes_in_one_query(client, commune_a, commune_b):
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    invoice_a = issue_january(make_catalogue(commune_a), family)
    invoice_b = issue_january(make_catalogue(commune_b, code="CANT", price="3.20"), family)
    with commune_context(commune_a):
        receipt_a = services.record_payment(
            invoice_id=invoice_a.pk, method="cash", amount=invoice_a.total
        ).receipt
        note = services.issue_credit_note(
            invoice_id=invoice_a.pk, amount=Decimal("1.00"), reason="repas non servi"
        )
    with commune_context(commune_b):
        receipt_b = services.record_payment(
            invoice_id=invoice_b.pk, method="cesu", amount=invoice_b.total
        ).receipt
    client.force_login(family.guardians.get().account)
    with CaptureQueriesContext(connection) as queries:
        page = page_text(client.get("/factures/recus/"))
    unions = [q["sql"] for q in queries.captured_queries if "billing_receipt" in q["sql"]]
    assert len(unions) == 1 and "c_jolieville" in unions[0] and "c_demo" in unions[0]
    assert len(queries) <= 6
    for text in (
        "Commune de JolieVille – Régie principale",
        "Collectivité Démo – Régie principale",
        f"Reçu {receipt_a.reference}",
        f"Reçu {receipt_b.reference}",
        f"Avoir {note.reference}",
        f"Sur la facture {invoice_a.reference} : repas non servi",
        "sera déduit de la prochaine facture",
        "CESU",
    ):
        assert text in page, text
    pdf = client.get(commune_path(commune_a, f"recus/{receipt_a.pk}/pdf/"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert client.get(commune_path(commune_a, f"avoirs/{note.pk}/pdf/")).status_code == 200
    # the invoice detail links its receipt and its credit note, and says which days it bills
    detail = page_text(client.get(commune_path(commune_a, f"factures/{invoice_a.pk}/")))
    assert f"reçu {receipt_a.reference}" in detail and f"Avoir {note.reference}" in detail
    assert "lun. 4 janv." in detail


def test_another_family_gets_404_on_my_receipts(client, commune_a, commune_b):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = issue_january(make_catalogue(commune_a), family)
    with commune_context(commune_a):
        receipt = services.record_payment(invoice_id=invoice.pk, method="cash", amount=invoice.total).receipt
        note = services.issue_credit_note(invoice_id=invoice.pk, amount=Decimal("1.00"), reason="erreur")
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(other.guardians.get().account)
    assert client.get(commune_path(commune_a, f"recus/{receipt.pk}/pdf/")).status_code == 404
    assert client.get(commune_path(commune_a, f"avoirs/{note.pk}/pdf/")).status_code == 404
    assert "Aucun reçu ni avoir" in page_text(client.get("/factures/recus/"))
    # the same id in another commune is another commune's row: not mine either
    assert client.get(commune_path(commune_b, f"recus/{receipt.pk}/pdf/")).status_code == 404


def test_invoice_lines_carry_their_days(commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = issue_january(make_catalogue(commune_a), family)
    with commune_context(commune_a):
        line = invoice.lines.get()
    assert line.dates == [dt.date(2027, 1, 4)] and line.days_label == "lun. 4 janv."
