"""The invoice PDF (what the invoice says, as issued) and the encryption of secrets at rest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pytest
from cryptography.fernet import Fernet
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from billing import pdf
from billing.console_selectors import get_invoice
from billing.crypto import decrypt_secret, encrypt_secret
from billing.models import Invoice, InvoiceLine, InvoicingRun, Payment
from billing.pdf import render_invoice_pdf
from foyer.errors import FoyerError
from shared_identity.models import Family, Guardian
from tenants.context import commune_context
from tests.conftest import make_family

PARIS = dt.timezone(dt.timedelta(hours=1))


def issued_invoice(family: Family) -> Invoice:
    """Martin's January 2027, issued on 1 February: 3 meals, a credit, a cheque received."""
    run = InvoicingRun.objects.create(
        period_start=dt.date(2027, 1, 1), period_end=dt.date(2027, 1, 31), status=InvoicingRun.Status.ISSUED
    )
    invoice = Invoice.objects.create(
        run=run,
        family=family,
        status=Invoice.Status.ISSUED,
        year=2027,
        number=7,
        reference="2027-CA-00-7",
        period_start=run.period_start,
        period_end=run.period_end,
        total=Decimal("1240.15"),
        paid_amount=Decimal("100.00"),
        issued_at=dt.datetime(2027, 2, 1, 9, tzinfo=PARIS),
        due_date=dt.date(2027, 3, 3),
        payer_name="Camille MARTIN",
        payer_address="3 rue des Ecoles\n38000 JolieVille",
        dossier_number="F00001",
    )
    for kind, label, quantity, unit_price, amount in (
        (InvoiceLine.Kind.BOOKING, "Restauration scolaire", 3, "417.38", "1252.14"),
        (InvoiceLine.Kind.CREDIT, "Avoir greve", 1, "-11.99", "-11.99"),
    ):
        InvoiceLine.objects.create(
            invoice=invoice,
            kind=kind,
            label=label,
            child_name="Lea Martin",
            quantity=quantity,
            unit_price=Decimal(unit_price),
            amount=Decimal(amount),
        )
    Payment.objects.create(
        invoice=invoice,
        method=Payment.Method.CHECK,
        amount=Decimal("100.00"),
        received_at=dt.datetime(2027, 2, 10, 11, tzinfo=PARIS),
    )
    return invoice


@pytest.fixture
def invoice(commune_a) -> Invoice:
    family = make_family(commune_a, email="martin@example.fr").family
    with commune_context(commune_a):
        return issued_invoice(family)


def render(commune, invoice: Invoice) -> bytes:
    with commune_context(commune):
        return render_invoice_pdf(invoice=get_invoice(invoice_id=invoice.pk), commune=commune, compress=False)


def test_pdf_shows_the_invoice_with_the_payer_as_copied_when_issued(commune_a, invoice):
    # given: since the invoice was issued, the family changed its name and moved
    Family.objects.filter(pk=invoice.family_id).update(name="Dupont", address_line="9 avenue Neuve")
    Guardian.objects.filter(family_id=invoice.family_id).update(last_name="Dupont")
    # when
    document = render(commune_a, invoice)
    # then
    assert document.startswith(b"%PDF-")
    for text in (
        b"(Facture 2027-CA-00-7)",
        b"(Camille MARTIN)",
        b"(3 rue des Ecoles)",
        b"(38000 JolieVille)",
        b" F00001)",  # "Dossier n° F00001"
        b"payer avant le 3 mars 2027.)",  # due date
        b"mise le 1er f",  # "Émise le 1er février 2027"
        b"riode : janvier 2027)",  # "Période : janvier 2027"
        b"(Restauration scolaire)",
        b"(417,38",  # unit price
        b"252,14",  # line: 1 252,14 € (narrow no-break space, then the euro sign)
        b"(-11,99",  # credit
        b"240,15",  # total
        b"(10/02/2027)",  # the cheque
        b"140,15",  # still due
    ):
        assert text in document, text
    assert b"Dupont" not in document
    assert b"9 avenue Neuve" not in document


def test_an_invoice_without_a_due_date_is_drawn_and_listed(client, commune_a, invoice):
    # given an issued invoice with no due date (an imported one may have none)
    with commune_context(commune_a):
        Invoice.objects.filter(pk=invoice.pk).update(due_date=None)
    # when its PDF is drawn
    document = render(commune_a, invoice)
    # then it says when it was issued, and no due date
    assert b"mise le 1er f" in document
    assert b"payer avant" not in document
    # and the family's pages show it
    client.force_login(invoice.family.guardians.get().account)
    assert client.get("/").status_code == 200
    response = client.get("/factures/")
    assert response.status_code == 200
    assert "sans échéance" in response.content.decode()


def test_pdf_falls_back_to_helvetica_without_dejavu(commune_a, invoice, monkeypatch):
    # given: a machine without the DejaVu fonts
    monkeypatch.setattr(pdf, "DEJAVU", "/nonexistent/")
    pdf._fonts.cache_clear()
    try:
        # when
        document = render(commune_a, invoice)
    finally:
        pdf._fonts.cache_clear()
    # then: WinAnsi text, the euro sign as \200 (the narrow no-break space, absent from WinAnsi, is
    # replaced)
    assert b"/BaseFont /Helvetica" in document
    assert b"(Camille MARTIN)" in document
    assert b"(1 240,15 \\200) Tj" in document
    assert b"ZapfDingbats" not in document  # no glyph missing from Helvetica


def _png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (40, 40), "#ff8800").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "has_image"), [(_png(), True), (b"<svg>pas une image</svg>", False)])
def test_pdf_draws_the_logo_and_skips_one_it_cannot_read(commune_a, invoice, content, has_image):
    # given
    name = default_storage.save(f"{commune_a.schema_name}/branding/logo-test", ContentFile(content))
    commune_a.logo.name = name
    try:
        # when
        document = render(commune_a, invoice)
    finally:
        default_storage.delete(name)
    # then
    assert document.startswith(b"%PDF-")
    assert (b"/Subtype /Image" in document) is has_image


def test_pdf_without_a_logo_file_is_still_drawn(commune_a, invoice):
    commune_a.logo.name = f"{commune_a.schema_name}/branding/absent.png"
    assert b"2027-CA-00-7" in render(commune_a, invoice)


# --- Secrets at rest -------------------------------------------------------------------------------


KEY = "test_" + "dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"


def test_a_secret_is_encrypted_and_read_back():
    # when
    first, second = encrypt_secret(KEY), encrypt_secret(KEY)
    # then
    assert decrypt_secret(first) == KEY
    assert KEY not in first and "dHar4XY7" not in first
    assert first != second  # a fresh token each time


def test_a_configured_encryption_key_is_used_instead_of_the_secret_key(settings):
    # given
    settings.FOYER_ENCRYPTION_KEY = Fernet.generate_key().decode()
    # when
    token = encrypt_secret(KEY)
    # then
    assert Fernet(settings.FOYER_ENCRYPTION_KEY).decrypt(token.encode()).decode() == KEY
    del settings.FOYER_ENCRYPTION_KEY
    with pytest.raises(FoyerError, match="ne peut plus être lue") as refused:
        decrypt_secret(token)
    assert refused.value.code == "secret_unreadable"
