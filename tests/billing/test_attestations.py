"""Yearly attestations of payments: their totals are the money recorded for the family, year
and commune (counter and online payments, less refunds; credit notes change what was owed,
not what was paid), split per child and service; the tax-credit one keeps children under six
and the services that qualify; one attestation for all of a commune's régies; downloads for
the family only; the administrator's run e-mails each family once."""

from __future__ import annotations

import datetime as dt
import html
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db.models import Sum
from django.utils import timezone
from PIL import Image

from billing import payments, services
from billing.attestations import (
    GENERAL,
    TAX_CREDIT,
    Key,
    build_attestation,
    families_with_payments,
    split,
    under_tax_credit_age,
    years_with_payments,
)
from billing.models import (
    AttestationRun,
    AttestationSending,
    DebitMandate,
    Payment,
    PaymentAttempt,
    Refund,
    Regie,
)
from billing.pdf import render_attestation_pdf
from family.router import get_family_scope, list_family_attestation_years
from reservations.models import Booking, Service
from shared_identity.models import Account, Child, Membership, StaffRole
from tenants.context import commune_context
from tests.billing.test_payments import _online
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import family_in, make_catalogue

PARIS = ZoneInfo("Europe/Paris")
# The online payments settle now: the attestations are of the current year.
YEAR = timezone.localdate().year


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(YEAR, month, day, hour, tzinfo=PARIS)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _book(catalogue, child, days: list[int], month: int) -> None:
    for day in days:
        Booking.objects.create(
            child=child,
            family_id=child.family_id,
            prestation=catalogue.prestation,
            site=catalogue.site,
            date=dt.date(YEAR, month, day),
            status="confirmed",
            price=catalogue.prestation.base_price,
        )


def _issue(month: int, regie_id: int | None = None):
    """Invoice and issue one month of a régie; the family's invoice."""
    run = services.prepare_invoicing_run(month=dt.date(YEAR, month, 1), regie_id=regie_id)
    services.issue_invoicing_run(run_id=run.pk)
    return run.invoices.get()


def _child(family, first_name: str, born: dt.date) -> Child:
    return Child.objects.create(family=family, first_name=first_name, last_name=family.name, birth_date=born)


def _rows(attestation) -> dict[tuple[str, str], Decimal]:
    return {(row.child, row.service): row.total for section in attestation.sections for row in section.rows}


def _recorded(family_id: int) -> Decimal:
    """What the commune's tables say the family paid this year: counter payments, online
    payments confirmed, less the refunds the provider accepted."""
    start, end = dt.datetime(YEAR, 1, 1, tzinfo=PARIS), dt.datetime(YEAR + 1, 1, 1, tzinfo=PARIS)
    zero = Decimal("0.00")
    counter = Payment.objects.filter(
        invoice__family_id=family_id, attempt__isnull=True, received_at__gte=start, received_at__lt=end
    ).aggregate(s=Sum("amount"))["s"]
    online = PaymentAttempt.objects.filter(
        family_id=family_id, status="paid", settled_at__gte=start, settled_at__lt=end
    ).aggregate(s=Sum("amount"))["s"]
    refunded = (
        Refund.objects.filter(attempt__family_id=family_id, created_at__gte=start, created_at__lt=end)
        .exclude(provider_id="")
        .aggregate(s=Sum("amount"))["s"]
    )
    return (counter or zero) + (online or zero) - (refunded or zero)


# --- What was paid ----------------------------------------------------------------------------------


def test_attestation_totals_equal_the_payments_recorded_for_the_family_year_and_commune(
    commune_a, commune_b, mollie
):
    # given a family of two communes, two children, the canteen and the périscolaire
    _online(commune_a)
    canteen = make_catalogue(commune_a, code="REPAS")
    peri = make_catalogue(commune_a, code="PERI", price="2.50")
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    lea = family.children.get()
    tom = _child(family, "Tom", dt.date(YEAR - 3, 3, 1))
    Membership.objects.create(family=family, commune=commune_b, dossier_number="B1", status="active")
    account = family.guardians.get().account
    with commune_context(commune_a):
        # January: Léa 3 meals (12,15 €), Tom 2 périscolaire (5,00 €) = 17,15 €
        _book(canteen, lea, [4, 5, 7], month=1)
        _book(peri, tom, [4, 5], month=1)
        january = _issue(1)
        # paid at the counter (cash, check) and online; a credit note of 4,05 € on January
        services.record_payment(
            invoice_id=january.pk, method="cash", amount=Decimal("5.00"), received_at=at(1, 20)
        )
        services.record_payment(
            invoice_id=january.pk, method="check", amount=Decimal("2.15"), received_at=at(1, 21)
        )
        services.issue_credit_note(invoice_id=january.pk, amount=Decimal("4.05"), reason="Absence")
        attempt = payments.start_invoice_checkout(
            family_ids=[family.pk], account=account, invoice_ids=[january.pk]
        )
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="return")
        # and 3,00 € of the online payment refunded
        payments.refund_attempt(attempt_id=attempt.pk, amount=Decimal("3.00"), reason="Erreur")
        # February: 8,10 € + 10,00 € less the credit note = 14,05 €, paid in CESU
        _book(canteen, lea, [1, 2], month=2)
        _book(peri, tom, [1, 2, 3, 4], month=2)
        february = _issue(2)
        assert february.total == Decimal("14.05")
        services.record_payment(
            invoice_id=february.pk, method="cesu", amount=Decimal("14.05"), received_at=at(3, 2)
        )
        # a payment of the year before does not count
        Payment.objects.filter(method="cesu").update(
            received_at=dt.datetime(YEAR - 1, 12, 31, 23, 30, tzinfo=PARIS)
        )
    with commune_context(commune_b):
        # another commune's payment stays there
        other = make_catalogue(commune_b, code="REPASB")
        _book(other, lea, [4], month=1)
        other_invoice = _issue(1)
        services.record_payment(
            invoice_id=other_invoice.pk, method="cash", amount=other_invoice.total, received_at=at(1, 25)
        )

    # when the family's attestation of the year is drawn
    with commune_context(commune_a):
        attestation = build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL)
        recorded = _recorded(family.pk)
        refund = Refund.objects.get()
    # then its total is the money recorded: 5,00 + 2,15 + 10,00 online - 3,00 refunded
    assert refund.provider_id
    assert recorded == Decimal("14.15")
    assert attestation.total == recorded
    # split per child and service, each share through the January invoice's lines
    rows = _rows(attestation)
    assert set(rows) == {("Léa Martin", "Service REPAS"), ("Tom Martin", "Service PERI")}
    assert sum(rows.values()) == recorded
    # (17,15 € billed: 12,15 for Léa, 5,00 for Tom; every movement is split in that proportion)
    # (cash 1,46, check 0,63, online 2,92, refund -0,88: shares of 5,00 / 17,15 rounded to the cent)
    assert rows == {
        ("Léa Martin", "Service REPAS"): Decimal("10.02"),
        ("Tom Martin", "Service PERI"): Decimal("4.13"),
    }
    # the dates and ways of payment are listed, the refund negative
    movements = [m for section in attestation.sections for row in section.rows for m in row.movements]
    assert {method for _on, method, _amount in movements} == {
        "Espèces",
        "Chèque",
        "Paiement en ligne",
        "Remboursement",
    }
    assert sum(amount for _on, _m, amount in movements if amount < 0) == Decimal("-3.00")
    # the year before holds the CESU payment, the other commune its own
    with commune_context(commune_a):
        assert build_attestation(family_id=family.pk, year=YEAR - 1, kind=GENERAL).total == Decimal("14.05")
    with commune_context(commune_b):
        assert build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL).total == Decimal("4.05")
    # and the PDF says it in French
    with commune_context(commune_a):
        pdf = render_attestation_pdf(attestation=attestation, compress=False).decode("latin-1")
    assert pdf.startswith("%PDF")


def test_a_credit_note_line_shares_a_payment_in_the_proportions_of_the_lines(commune_a):
    # given an invoice of 10,00 € for Léa's meals and 30,00 € for Tom's périscolaire, less a
    # credit note of an earlier invoice (10,00 €, no child named)
    canteen = make_catalogue(commune_a, code="REPAS", price="10.00")
    peri = make_catalogue(commune_a, code="PERI", price="30.00")
    family = family_in(commune_a, "parent@example.fr").family
    lea, tom = family.children.get(), _child(family, "Tom", dt.date(YEAR - 2, 5, 1))
    with commune_context(commune_a):
        _book(canteen, lea, [4], month=1)
        january = _issue(1)
        services.issue_credit_note(invoice_id=january.pk, amount=Decimal("10.00"), reason="Erreur")
        _book(canteen, lea, [1], month=2)
        _book(peri, tom, [1], month=2)
        february = _issue(2)
        # when 30,00 € are paid for it
        services.record_payment(
            invoice_id=february.pk, method="cash", amount=Decimal("30.00"), received_at=at(3, 1)
        )
        attestation = build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL)
    # then the payment is shared 1:3, what was paid being 30,00 €, not the 40,00 € billed
    assert _rows(attestation) == {
        ("Léa Martin", "Service REPAS"): Decimal("7.50"),
        ("Tom Martin", "Service PERI"): Decimal("22.50"),
    }


def test_split_rounds_to_the_cent_and_adds_up_exactly():
    weights = {Key("A", 1): Decimal("1"), Key("B", 1): Decimal("1"), Key("C", 2): Decimal("1")}
    assert split(Decimal("10.00"), weights) == {
        Key("A", 1): Decimal("3.34"),
        Key("B", 1): Decimal("3.33"),
        Key("C", 2): Decimal("3.33"),
    }
    assert sum(split(Decimal("-0.01"), weights).values()) == Decimal("-0.01")
    assert split(Decimal("5.00"), {Key("A", 1): Decimal("-2")}) == {Key("", None): Decimal("5.00")}


# --- The tax credit ---------------------------------------------------------------------------------


def test_under_six_on_the_first_of_january_counts_a_child_born_that_day_six_years_before():
    assert under_tax_credit_age(dt.date(2021, 1, 1), 2027)
    assert not under_tax_credit_age(dt.date(2020, 12, 31), 2027)
    assert under_tax_credit_age(dt.date(2026, 6, 1), 2027)


def test_the_tax_credit_attestation_keeps_children_under_six_and_the_services_that_qualify(commune_a):
    # given the périscolaire qualifies and the canteen does not; Léa was born on 1 January six
    # years before, Tom the day before that, both use both services
    canteen = make_catalogue(commune_a, code="REPAS")
    peri = make_catalogue(commune_a, code="PERI", price="2.50")
    family = family_in(commune_a, "parent@example.fr").family
    lea = family.children.get()
    Child.objects.filter(pk=lea.pk).update(birth_date=dt.date(YEAR - 6, 1, 1))
    tom = _child(family, "Tom", dt.date(YEAR - 7, 12, 31))
    with commune_context(commune_a):
        Service.objects.filter(pk=peri.service.pk).update(tax_credit_eligible=True)
        for child in (lea, tom):
            _book(canteen, child, [4], month=1)
            _book(peri, child, [4, 5], month=1)
        january = _issue(1)
        services.record_payment(
            invoice_id=january.pk, method="cash", amount=january.total, received_at=at(2, 1)
        )
        general = build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL)
        tax = build_attestation(family_id=family.pk, year=YEAR, kind=TAX_CREDIT)
        pdf = render_attestation_pdf(attestation=tax, compress=False)
    # then the general one has everything, the tax-credit one Léa's périscolaire only
    assert general.total == january.total == Decimal("18.10")
    assert len(_rows(general)) == 4
    assert _rows(tax) == {("Léa Martin", "Service PERI"): Decimal("5.00")}
    assert tax.total == Decimal("5.00")
    assert tax.children == [("Léa Martin", dt.date(YEAR - 6, 1, 1))]
    assert pdf.startswith(b"%PDF")


def test_the_service_flag_is_set_in_the_console_and_off_by_default(client, commune_a):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    peri = make_catalogue(commune_a, code="PERI")
    with commune_context(commune_a):
        assert Service.objects.get(pk=peri.service.pk).tax_credit_eligible is False
    client.force_login(admin)
    form = page_text(client.get(commune_path(commune_a, f"console/catalogue/services/{peri.service.pk}/")))
    assert "Ouvre droit au crédit d'impôt pour frais de garde" in form
    response = client.post(
        commune_path(commune_a, f"console/catalogue/services/{peri.service.pk}/"),
        {
            "name": peri.service.name,
            "late_cancellation": "agent",
            "is_active": "on",
            "tax_credit_eligible": "on",
        },
    )
    assert response.status_code == 302
    with commune_context(commune_a):
        assert Service.objects.get(pk=peri.service.pk).tax_credit_eligible is True


# --- Several régies --------------------------------------------------------------------------------


def test_the_payments_of_every_regie_of_the_commune_are_on_one_attestation(commune_a):
    # given the canteen billed by one régie, the périscolaire by another, each paid
    canteen = make_catalogue(commune_a, code="REPAS")
    peri = make_catalogue(commune_a, code="PERI", price="2.50")
    family = family_in(commune_a, "parent@example.fr").family
    lea = family.children.get()
    with commune_context(commune_a):
        first = services.get_regie()
        a4 = Regie.objects.create(name="Service périscolaire", regie_code="A4", address="Place de la mairie")
        Service.objects.filter(pk=peri.service.pk).update(regie=a4)
        _book(canteen, lea, [4, 5], month=1)
        _book(peri, lea, [4], month=1)
        meals = _issue(1, regie_id=first.pk)
        care = _issue(1, regie_id=a4.pk)
        services.record_payment(invoice_id=meals.pk, method="cash", amount=meals.total, received_at=at(2, 1))
        services.record_payment(invoice_id=care.pk, method="check", amount=care.total, received_at=at(2, 3))
        attestation = build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL)
    # then one attestation, a section per régie, and the total of both
    assert [(s.regie.regie_code, s.total) for s in attestation.sections] == [
        ("RG", Decimal("8.10")),
        ("A4", Decimal("2.50")),
    ]
    assert attestation.total == Decimal("10.60")


# --- The family's pages and API ---------------------------------------------------------------------


def _paid_families(commune, *emails: str) -> list:
    """Families of the commune, each with one meal in January, invoiced and paid in cash."""
    canteen = make_catalogue(commune, code="REPAS")
    families = [
        family_in(commune, email, dossier=f"F{n:05d}").family for n, email in enumerate(emails, start=1)
    ]
    with commune_context(commune):
        for family in families:
            _book(canteen, family.children.get(), [4], month=1)
        run = services.prepare_invoicing_run(month=dt.date(YEAR, 1, 1))
        services.issue_invoicing_run(run_id=run.pk)
        for invoice in run.invoices.all():
            services.record_payment(
                invoice_id=invoice.pk, method="cash", amount=invoice.total, received_at=at(2, 1)
            )
    return families


def test_the_family_lists_its_years_and_downloads_its_attestations(client, commune_a):
    (family,) = _paid_families(commune_a, "parent@example.fr")
    client.force_login(family.guardians.get().account)
    invoices = page_text(client.get("/factures/"))
    assert "Attestations de paiement" in invoices
    page = page_text(client.get("/factures/attestations/"))
    assert f"Paiements de {YEAR}" in page
    url = f"/c/{commune_a.slug}/attestations/{family.pk}/{YEAR}/credit-impot/"
    assert url in page
    for kind in (GENERAL, TAX_CREDIT):
        response = client.get(commune_path(commune_a, f"attestations/{family.pk}/{YEAR}/{kind}/"))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response["Cache-Control"] == "private, no-store"
    # a year without payment, an unknown kind: not found
    assert (
        client.get(commune_path(commune_a, f"attestations/{family.pk}/{YEAR - 3}/paiements/")).status_code
        == 404
    )
    assert client.get(commune_path(commune_a, f"attestations/{family.pk}/{YEAR}/autre/")).status_code == 404


def test_another_family_or_another_commune_gets_not_found(client, commune_a, commune_b):
    family, other = _paid_families(commune_a, "parent@example.fr", "autre@example.fr")
    client.force_login(other.guardians.get().account)
    path = f"attestations/{family.pk}/{YEAR}/paiements/"
    assert client.get(commune_path(commune_a, path)).status_code == 404
    assert client.get(commune_path(commune_a, "api/" + path + "pdf/")).status_code == 404
    # the family itself, in a commune it does not belong to
    client.force_login(family.guardians.get().account)
    assert client.get(commune_path(commune_b, path)).status_code == 404
    assert client.get(commune_path(commune_b, "api/" + path + "pdf/")).status_code == 404


def test_the_api_lists_the_years_and_serves_the_pdf(client, commune_a):
    (family,) = _paid_families(commune_a, "parent@example.fr")
    client.force_login(family.guardians.get().account)
    body = client.get("/api/attestations/").json()
    assert body == [
        {
            "commune": {"slug": commune_a.slug, "name": commune_a.name},
            "family": family.pk,
            "years": [
                {
                    "year": YEAR,
                    "documents": [
                        {
                            "kind": "paiements",
                            "label": "Attestation de paiement",
                            "pdf_url": f"/c/{commune_a.slug}/api/attestations/{family.pk}/{YEAR}/paiements/pdf/",
                        },
                        {
                            "kind": "credit-impot",
                            "label": "Attestation pour le crédit d'impôt (frais de garde des enfants de moins de 6 ans)",
                            "pdf_url": f"/c/{commune_a.slug}/api/attestations/{family.pk}/{YEAR}/credit-impot/pdf/",
                        },
                    ],
                }
            ],
        }
    ]
    response = client.get(body[0]["years"][0]["documents"][0]["pdf_url"])
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


# --- The administrator's run ------------------------------------------------------------------------


def _attestation_mails():
    return [m for m in mail.outbox if "attestations de paiement" in m.subject]


def test_the_admin_run_e_mails_each_family_once_and_says_how_many(
    client, commune_a, django_capture_on_commit_callbacks
):
    # given two families that paid, one of which turned billing e-mails off
    wants, quiet = _paid_families(commune_a, "parent@example.fr", "discret@example.fr")
    Child.objects.filter(family=wants).update(birth_date=dt.date(YEAR - 3, 1, 1))
    with commune_context(commune_a):
        Service.objects.update(tax_credit_eligible=True)
    Account.objects.filter(email="discret@example.fr").update(notify_invoices=False)
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    mail.outbox.clear()
    # when the administrator issues the year's attestations
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(commune_path(commune_a, "console/facturation/attestations/"), {"year": YEAR})
    assert response.status_code == 302
    # then the family that wants e-mails gets both PDFs, the other none
    sent = _attestation_mails()
    assert len(sent) == 1 and sent[0].to == ["parent@example.fr"]
    assert [name for name, _content, _type in sent[0].attachments] == [
        f"attestation-paiements-{commune_a.slug}-{YEAR}.pdf",
        f"attestation-credit-impot-{commune_a.slug}-{YEAR}.pdf",
    ]
    assert "4,05\u00a0€" in sent[0].body
    with commune_context(commune_a):
        run = AttestationRun.objects.get()
        assert (run.families, run.generated, run.sent, run.already_sent, run.without_email) == (2, 2, 1, 0, 1)
        assert list(AttestationSending.objects.values_list("family_id", flat=True)) == [wants.pk]
    page = page_text(client.get(commune_path(commune_a, "console/facturation/attestations/")))
    assert "1 e-mail envoyé" in page and "1 famille sans e-mail de facturation" in page
    # when it runs again: nobody is e-mailed twice
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, "console/facturation/attestations/"), {"year": YEAR})
    assert _attestation_mails() == []
    with commune_context(commune_a):
        assert AttestationRun.objects.first().already_sent == 1
    # unless asked to
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, "console/facturation/attestations/"), {"year": YEAR, "resend": "on"}
        )
    assert [m.to for m in _attestation_mails()] == [["parent@example.fr"]]
    with commune_context(commune_a):
        assert not AttestationSending.objects.filter(family_id=quiet.pk).exists()


def test_a_run_for_a_year_to_come_is_refused_and_agents_cannot_start_one(client, commune_a):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(admin)
    response = client.post(commune_path(commune_a, "console/facturation/attestations/"), {"year": YEAR + 1})
    assert response.status_code == 200
    client.force_login(agent)
    assert (
        client.post(commune_path(commune_a, "console/facturation/attestations/"), {"year": YEAR}).status_code
        == 403
    )
    with commune_context(commune_a):
        assert not AttestationRun.objects.exists()


# --- The signature ----------------------------------------------------------------------------------


def _png(size=(120, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _upload(client, commune, regie, name: str, content: bytes, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        commune_path(commune, f"console/facturation/regies/{regie.pk}/signature/"),
        {"signature": SimpleUploadedFile(name, content), **extra},
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("signature.png", b"%PDF-1.4 not an image", "L'image doit être au format PNG ou JPEG"),
        ("signature.png", b"\x89PNG\r\n\x1a\nbroken", "Cette image est illisible ou abîmée"),
        ("signature.png", b"", "Le fichier soumis est vide."),
        ("lourde.png", b"\x89PNG\r\n\x1a\n" + b"0" * 600_000, "Le fichier dépasse 0,5 Mo."),
        ("grande.png", _png((2500, 100)), "L'image mesure au plus 2000 × 2000 pixels"),
    ],
)
def test_a_bad_signature_is_refused_and_changes_nothing(client, commune_a, name, content, message):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    with commune_context(commune_a):
        regie = services.get_regie()
    response = _upload(client, commune_a, regie, name, content)
    assert response.status_code == 200
    assert message in page_text(response)
    with commune_context(commune_a):
        regie.refresh_from_db()
        assert not regie.signature


def test_a_signature_is_stored_privately_printed_and_removed(
    client, commune_a, django_capture_on_commit_callbacks
):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    (family,) = _paid_families(commune_a, "parent@example.fr")
    with commune_context(commune_a):
        regie = services.get_regie()
    # when an administrator uploads a PNG (whatever its name says)
    response = _upload(client, commune_a, regie, "scan.gif", _png())
    assert response.status_code == 302
    with commune_context(commune_a):
        regie.refresh_from_db()
        stored = regie.signature.name
        assert stored.startswith(f"{commune_a.schema_name}/regies/signature-") and stored.endswith(".png")
        pdf = render_attestation_pdf(
            attestation=build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL), compress=False
        )
    # then the attestation carries the image
    assert b"/Subtype /Image" in pdf
    # and removing it deletes the file once committed
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/facturation/regies/{regie.pk}/signature/"), {"remove": "on"}
        )
    assert response.status_code == 302
    with commune_context(commune_a):
        regie.refresh_from_db()
        assert not regie.signature
        assert not regie.signature.storage.exists(stored)


def test_the_cent_that_signs_a_direct_debit_mandate_is_on_no_attestation(commune_a):
    # given a family whose only online payment is the 0,01 € that signed its mandate, refunded
    family = family_in(commune_a, "parent@example.fr").family
    account = family.guardians.get().account
    with commune_context(commune_a):
        regie = Regie.objects.get()
        signup = PaymentAttempt.objects.create(
            regie=regie,
            family_id=family.pk,
            account_id=account.pk,
            amount=Decimal("0.01"),
            description="Mandat de prélèvement",
            idempotency_key="signup",
            webhook_token="signup",
            provider_id="tr_signup",
            status=PaymentAttempt.Status.PAID,
            settled_at=at(1, 10),
            amount_refunded=Decimal("0.01"),
        )
        Refund.objects.create(
            attempt=signup,
            amount=Decimal("0.01"),
            reason="Vérification",
            idempotency_key="r",
            provider_id="re_1",
        )
        DebitMandate.objects.create(
            regie=regie, family_id=family.pk, account_id=account.pk, customer_id="cst_1", first_attempt=signup
        )
        # then it pays for no childcare: no movement, no year to attest, not in the admin's run
        assert build_attestation(family_id=family.pk, year=YEAR, kind=GENERAL).total == Decimal("0")
        assert years_with_payments(family_id=family.pk) == []
        assert families_with_payments(year=YEAR) == []
    assert list_family_attestation_years(scope=get_family_scope(account)) == []
