"""Month-end invoicing: priced with the grid, drafts and a journal, gapless numbers, payments."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connections

from billing import services
from billing.models import Invoice, InvoiceCounter, InvoicingRun
from foyer.errors import FoyerError
from reservations.models import Booking, BookingCredit, PriceBracket, QuotientFamilial
from tenants.context import commune_context
from tenants.models import Commune
from tests.reservations.conftest import enrol, family_in, make_catalogue

JANUARY = dt.date(2027, 1, 1)


def _booking(catalogue, family, day, status="confirmed", price="0.00", **fields):
    return Booking.objects.create(
        child=family.children.get(),
        family=family,
        prestation=catalogue.prestation,
        site=catalogue.site,
        date=day,
        status=status,
        price=Decimal(price),
        **fields,
    )


@pytest.fixture
def january(commune_a):
    """Two families' January in JolieVille."""
    canteen = make_catalogue(commune_a, late_price="5.20")
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", price="12.00")
    martin = family_in(commune_a, "martin@example.fr").family
    durand = family_in(commune_a, "durand@example.fr", name="Durand", dossier="F00002").family
    Family = type(martin)
    Family.objects.filter(pk=martin.pk).update(
        address_line="3 rue des Écoles", postcode="38000", city="JolieVille"
    )
    for family in (martin, durand):
        enrol(canteen, family.children.get())
    with commune_context(commune_a):
        PriceBracket.objects.create(
            prestation=canteen.prestation, qf_min=0, qf_max=600, price=Decimal("1.00")
        )
        QuotientFamilial.objects.create(family=martin, value=450, valid_from=dt.date(2026, 9, 1))
        for day in (4, 5, 7):
            _booking(canteen, martin, dt.date(2027, 1, day))
        _booking(canteen, martin, dt.date(2027, 1, 8), status="absent_justified")  # not billed
        _booking(canteen, martin, dt.date(2027, 1, 11), late=True)  # late price
        _booking(
            canteen, martin, dt.date(2027, 1, 12), status="attended", unbooked=True
        )  # no unbooked price: QF
        _booking(canteen, martin, dt.date(2027, 2, 1))  # February: not this run
        _booking(leisure, martin, dt.date(2027, 1, 6))  # prepaid: never on a month-end invoice
        for day in (4, 5):
            _booking(canteen, durand, dt.date(2027, 1, day), status="attended")
        _booking(canteen, durand, dt.date(2027, 1, 6), status="absent")  # unjustified absence: billed
        cancelled = _booking(leisure, durand, dt.date(2027, 1, 13), status="cancelled", price="12.00")
        BookingCredit.objects.create(
            booking=cancelled, family=durand, amount=Decimal("12.00"), reason="grève"
        )
    return canteen, martin, durand


def test_prepare_prices_each_booking_with_the_grid(commune_a, january):
    canteen, martin, durand = january
    with commune_context(commune_a):
        run = services.prepare_invoicing_run(month=JANUARY)
        invoices = {invoice.family_id: invoice for invoice in run.invoices.all()}
        lines = {
            (line.kind, line.quantity, line.unit_price, line.amount)
            for line in invoices[martin.pk].lines.all()
        }
        # 3 booked + 1 unbooked presence at the QF price, 1 late at the late price; the
        # justified absence, February and the prepaid booking are not billed
        assert lines == {
            ("booking", 3, Decimal("1.00"), Decimal("3.00")),
            ("unbooked", 1, Decimal("1.00"), Decimal("1.00")),
            ("late", 1, Decimal("5.20"), Decimal("5.20")),
        }
        assert invoices[martin.pk].total == Decimal("9.20")
        # Durand: 3 × 4,05 at the base price (no QF), minus the 12,00 credit of a paid booking
        assert invoices[durand.pk].total == Decimal("0.15")
        assert all(i.status == "draft" and i.number is None for i in invoices.values())
        messages = [entry["message"] for entry in run.journal]
        assert "Durand : quotient familial inconnu, prix de base appliqué à 3 réservation(s)." in messages
        assert "Durand : adresse du payeur incomplète." in messages


def test_credits_become_negative_lines_when_the_invoice_covers_them(commune_a, january):
    canteen, martin, durand = january
    with commune_context(commune_a):
        for day in (18, 19, 21):
            _booking(canteen, durand, dt.date(2027, 1, day))
        run = services.prepare_invoicing_run(month=JANUARY)
        invoice = run.invoices.get(family=durand)
        assert invoice.total == Decimal("12.30")  # 6 × 4,05 − 12,00
        credit_line = invoice.lines.get(kind="credit")
        assert (credit_line.amount, credit_line.label) == (
            Decimal("-12.00"),
            "Avoir : Prestation MERJ du 13/01/2027",
        )
        services.issue_invoicing_run(run_id=run.pk)
        assert BookingCredit.objects.get().applied_at is not None


def test_issue_numbers_without_gaps_and_copies_the_payer(
    commune_a, january, django_capture_on_commit_callbacks
):
    canteen, martin, durand = january
    with commune_context(commune_a):
        services.get_regie()
        from billing.models import Regie

        Regie.objects.update(regie_code="CA")
        run = services.prepare_invoicing_run(month=JANUARY)
        with django_capture_on_commit_callbacks(execute=True):
            services.issue_invoicing_run(run_id=run.pk, now=dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC))
        invoices = list(Invoice.objects.order_by("number"))
        assert [(i.number, i.reference) for i in invoices] == [(1, "2027-CA-00-1"), (2, "2027-CA-00-2")]
        martin_invoice = Invoice.objects.get(family=martin)
        assert martin_invoice.payer_name == "Camille MARTIN"
        assert martin_invoice.payer_address == "3 rue des Écoles\n38000 JolieVille"
        assert martin_invoice.dossier_number == "F00001"
        assert martin_invoice.due_date == dt.date(2027, 3, 3)
        # issued invoices are never drafted again
        with pytest.raises(FoyerError, match="déjà émise"):
            services.prepare_invoicing_run(month=JANUARY)
        assert Invoice.objects.count() == 2
    assert sorted(m.to[0] for m in mail.outbox if "nouvelle facture" in m.subject) == [
        "durand@example.fr",
        "martin@example.fr",
    ]


def test_counter_payment_settles_an_invoice_to_the_cent(commune_a, january):
    with commune_context(commune_a):
        run = services.prepare_invoicing_run(month=JANUARY)
        services.issue_invoicing_run(run_id=run.pk)
        invoice = Invoice.objects.get(total=Decimal("9.20"))
        with pytest.raises(FoyerError):
            services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("9.21"))
        invoice.refresh_from_db()
        assert (invoice.paid_amount, invoice.status) == (Decimal("0.00"), "issued")
        services.record_payment(
            invoice_id=invoice.pk, method="check", amount=Decimal("7.05"), reference="n° 42"
        )
        services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("2.15"))
        invoice.refresh_from_db()
        assert (invoice.paid_amount, invoice.amount_due, invoice.status) == (Decimal("9.20"), 0, "paid")


def test_concurrent_issuing_keeps_numbers_gapless(committed_db):
    # given two communes-months drafted in one commune: January and February
    commune = Commune.objects.get(slug="jolieville")
    canteen = make_catalogue(commune)
    families = [
        family_in(commune, f"p{i}@example.fr", name=f"F{i}", dossier=f"F{i:05d}").family for i in range(6)
    ]
    with commune_context(commune):
        for family in families:
            _booking(canteen, family, dt.date(2027, 1, 4))
            _booking(canteen, family, dt.date(2027, 2, 1))
        runs = [services.prepare_invoicing_run(month=dt.date(2027, month, 1)) for month in (1, 2)]
    # when both are issued at the same time on two connections
    barrier = threading.Barrier(2)

    def issue(run_id):
        try:
            with commune_context(commune):
                barrier.wait()
                services.issue_invoicing_run(run_id=run_id, now=dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(run.pk,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then the 12 invoices carry the numbers 1 to 12, each once
    with commune_context(commune):
        assert sorted(Invoice.objects.values_list("number", flat=True)) == list(range(1, 13))
        assert InvoiceCounter.objects.get(year=2027).last_number == 12
        assert InvoicingRun.objects.filter(status="issued").count() == 2


def test_a_credit_note_corrects_an_issued_invoice_on_the_next_one(commune_a, january):
    canteen, martin, durand = january
    with commune_context(commune_a):
        january_run = services.prepare_invoicing_run(month=JANUARY)
        services.issue_invoicing_run(run_id=january_run.pk)
        issued = Invoice.objects.get(family=martin)
        # refused: more than the invoice, or no reason; nothing is created
        with pytest.raises(FoyerError):
            services.issue_credit_note(invoice_id=issued.pk, amount=Decimal("9.21"), reason="trop")
        with pytest.raises(FoyerError):
            services.issue_credit_note(invoice_id=issued.pk, amount=Decimal("1.00"), reason=" ")
        note = services.issue_credit_note(
            invoice_id=issued.pk, amount=Decimal("1.00"), reason="repas non servi"
        )
        assert (note.number, note.reference) == (1, f"AV{note.year}-RG-0001")
        # the issued invoice is untouched; February's carries the avoir
        february = services.prepare_invoicing_run(month=dt.date(2027, 2, 1))
        line = february.invoices.get(family=martin).lines.get(kind="credit")
        assert (line.amount, line.label) == (
            Decimal("-1.00"),
            f"Avoir {note.reference} sur la facture {issued.reference} : repas non servi",
        )
        services.issue_invoicing_run(run_id=february.pk)
        note.refresh_from_db()
        issued.refresh_from_db()
        assert note.applied_at is not None and issued.total == Decimal("9.20")
        # February: 1,00 € (QF bracket) − 1,00 € of avoir = a 0,00 € invoice, settled by itself
        settled = Invoice.objects.get(run=february, family=martin)
        assert (settled.total, settled.status, settled.number) == (Decimal("0.00"), "paid", 3)


def test_the_regie_chooses_its_reference_format(commune_a, january):
    from django.core.exceptions import ValidationError

    from billing.models import Regie, render_reference, validate_reference_format

    assert (
        render_reference("{annee}/{regie}/{numero:06}", year=2027, regie_code="CA", number=154)
        == "2027/CA/000154"
    )
    for bad in ("{annee}-{regie}", "{annee}-{numéro}", "{numero}-{x}"):
        with pytest.raises(ValidationError):
            validate_reference_format(bad)
    with commune_context(commune_a):
        services.get_regie()
        Regie.objects.update(regie_code="CA", reference_format="F{annee}{regie}{numero:05}")
        run = services.prepare_invoicing_run(month=JANUARY)
        services.issue_invoicing_run(run_id=run.pk, now=dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC))
        assert sorted(Invoice.objects.values_list("reference", flat=True)) == ["F2027CA00001", "F2027CA00002"]
