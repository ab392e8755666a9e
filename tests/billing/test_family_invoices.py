"""\"Mes factures\": every commune's invoices together, in one query; hiding; the detail."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.models import Invoice
from reservations.models import Booking
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.reservations.conftest import family_in, make_catalogue


def _issue(commune, family, days, price="4.05"):
    canteen = make_catalogue(commune, code=f"R{commune.pk}", price=price)
    with commune_context(commune):
        for day in days:
            Booking.objects.create(
                child=family.children.get(),
                family=family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=dt.date(2027, 1, day),
                status="confirmed",
                price=Decimal(price),
            )
        run = services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        services.issue_invoicing_run(run_id=run.pk)
        return Invoice.objects.get()


def _family_in_both(commune_a, commune_b):
    membership = family_in(commune_a, "parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    return membership.family


def test_invoices_of_every_commune_in_one_query(client, commune_a, commune_b):
    family = _family_in_both(commune_a, commune_b)
    invoice_a = _issue(commune_a, family, (4, 5, 7))
    invoice_b = _issue(commune_b, family, (4,), price="12.00")
    client.force_login(family.guardians.get().account)
    with CaptureQueriesContext(connection) as queries:
        page = html.unescape(client.get("/factures/").content.decode())
    unions = [q["sql"] for q in queries.captured_queries if "billing_invoice" in q["sql"]]
    assert len(unions) == 1 and "c_jolieville" in unions[0] and "c_demo" in unions[0]
    assert f"(ref : {invoice_a.reference})" in page and f"(ref : {invoice_b.reference})" in page
    assert "Commune de JolieVille" in page and "Collectivité Démo" in page
    assert "jours avant échéance" in page
    assert 'Montant à payer <strong id="amount-to-pay" aria-live="polite">24,15\u00a0€</strong>' in page


def test_hide_and_show_an_invoice(client, commune_a, commune_b):
    family = _family_in_both(commune_a, commune_b)
    invoice = _issue(commune_a, family, (4,))
    client.force_login(family.guardians.get().account)
    client.post(commune_path(commune_a, f"factures/{invoice.pk}/visibilite/"), {"hidden": "1"})
    page = html.unescape(client.get("/factures/").content.decode())
    # hidden, it leaves the list but is still owed: counted in the amount to pay, with a note
    assert f"(ref : {invoice.reference})" not in page and "Voir les factures masquées (1)" in page
    assert 'Montant à payer <strong id="amount-to-pay" aria-live="polite">4,05\u00a0€</strong>' in page
    assert (
        "Dont 4,05\u00a0€ d'une facture que vous avez masquée : masquer une facture ne la règle pas" in page
    )
    hidden = html.unescape(client.get("/factures/?masquees=1").content.decode())
    assert f"(ref : {invoice.reference})" in hidden and "4,05\u00a0€" in hidden
    assert "jours avant échéance" in hidden and "— —" not in hidden
    client.post(commune_path(commune_a, f"factures/{invoice.pk}/visibilite/"), {"hidden": "0"})
    assert f"(ref : {invoice.reference})" in html.unescape(client.get("/factures/").content.decode())


def test_another_family_gets_404_on_my_invoice(client, commune_a):
    mine = family_in(commune_a, "parent@example.fr").family
    invoice = _issue(commune_a, mine, (4,))
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(other.guardians.get().account)
    assert client.get(commune_path(commune_a, f"factures/{invoice.pk}/")).status_code == 404
    assert (
        client.post(
            commune_path(commune_a, f"factures/{invoice.pk}/visibilite/"), {"hidden": "1"}
        ).status_code
        == 404
    )
    with commune_context(commune_a):
        invoice.refresh_from_db()
        assert invoice.hidden_by_family is False


def test_invoice_detail_shows_lines_and_what_is_left_to_pay(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = _issue(commune_a, family, (4, 5))
    with commune_context(commune_a):
        services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("5.00"))
    client.force_login(family.guardians.get().account)
    page = html.unescape(client.get(commune_path(commune_a, f"factures/{invoice.pk}/")).content.decode())
    assert "8,10\u00a0€" in page and "3,10\u00a0€" in page and "Espèces du" in page


def test_invoices_of_regies_without_online_payment_are_sent_to_the_counter(client, commune_a, commune_b):
    family = _family_in_both(commune_a, commune_b)
    invoice_a = _issue(commune_a, family, (4,))
    invoice_b = _issue(commune_b, family, (4,))
    client.force_login(family.guardians.get().account)
    response = client.post(
        "/factures/payer/", {"invoices": [f"jolieville:{invoice_a.pk}", f"demo:{invoice_b.pk}"]}, follow=True
    )
    page = html.unescape(response.content.decode())
    assert response.redirect_chain == [("/factures/", 302)]
    assert "Ces factures se règlent au guichet de la régie" in page
    assert (
        "Commune de JolieVille – Régie principale" in page and "Collectivité Démo – Régie principale" in page
    )


def test_the_invoicing_day_drafts_last_months_invoices_once(commune_a):
    from billing.models import InvoicingRun, Regie
    from billing.tasks import prepare_monthly_invoicing

    family = family_in(commune_a, "parent@example.fr").family
    canteen = make_catalogue(commune_a)
    with commune_context(commune_a):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=Decimal("4.05"),
        )
        services.get_regie()
        Regie.objects.update(invoicing_day=3)
    run = {"schema_name": commune_a.schema_name}
    assert prepare_monthly_invoicing.apply(kwargs={**run, "today": "2027-02-02"}).get() == []
    (run_id,) = prepare_monthly_invoicing.apply(kwargs={**run, "today": "2027-02-03"}).get()
    assert prepare_monthly_invoicing.apply(kwargs={**run, "today": "2027-02-03"}).get() == []
    with commune_context(commune_a):
        drafted = InvoicingRun.objects.get()
        assert (drafted.pk, drafted.period_start, drafted.status) == (run_id, dt.date(2027, 1, 1), "draft")
        assert drafted.invoices.get().total == Decimal("4.05")


def test_family_downloads_its_invoice_pdf_and_nobody_else(client, commune_a):
    family = family_in(commune_a, "parent@example.fr").family
    invoice = _issue(commune_a, family, (4,))
    client.force_login(family.guardians.get().account)
    response = client.get(commune_path(commune_a, f"factures/{invoice.pk}/pdf/"))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="facture-{invoice.reference}.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(other.guardians.get().account)
    assert client.get(commune_path(commune_a, f"factures/{invoice.pk}/pdf/")).status_code == 404
