"""Billing in the commune console: the régie settings and the Mollie key (encrypted at rest),
invoicing runs (prepare → journal → issue), invoices with their PDF and counter payments, the
payments received; who may do what."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from billing import services
from billing.crypto import decrypt_secret
from billing.models import Invoice, InvoicingRun, Payment, Regie, default_regie_id
from reservations.models import Booking
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.conftest import commune_path, make_family, make_staff
from tests.reservations.conftest import enrol, family_in, make_catalogue

# The month invoiced: last month, the one the console offers by default.
MONTH = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
MONTH_LABEL = date_format(MONTH, "F Y")
# Saving a key asks Mollie (the fake one, on loopback) whether it accepts it.
pytestmark = pytest.mark.usefixtures("mollie")

MOLLIE_KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
REGIES = "console/facturation/regies/"


def settings_path(commune) -> str:
    """The commune's first régie (every commune starts with one)."""
    with commune_context(commune):
        return f"{REGIES}{default_regie_id()}/"


RUNS = "console/facturation/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def mollie(mollie):
    """The fake Mollie of tests/billing, which also knows MOLLIE_KEY's account."""
    mollie.add_account(MOLLIE_KEY, "Régie cantine – JolieVille")
    return mollie


@pytest.fixture
def admin_a(commune_a):
    return make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)


def meals_last_month(commune, *, families: int = 2) -> None:
    """Month-end meals at 4,05 € last month: Martin 3, then Durand (and more families) 1."""
    canteen = make_catalogue(commune)
    names = ["Martin", "Durand", "Bernard", "Petit", "Robert"][:families]
    for index, name in enumerate(names):
        family = family_in(
            commune, f"{name.lower()}@example.fr", name=name, dossier=f"F0000{index + 1}"
        ).family
        child = family.children.get()
        enrol(canteen, child)
        with commune_context(commune):
            for day in (4, 5, 7) if index == 0 else (4,):
                Booking.objects.create(
                    child=child,
                    family=family,
                    prestation=canteen.prestation,
                    site=canteen.site,
                    date=MONTH.replace(day=day),
                    status="confirmed",
                    price=Decimal("4.05"),
                )


def prepared_run(commune, **kwargs) -> InvoicingRun:
    meals_last_month(commune, **kwargs)
    with commune_context(commune):
        return services.prepare_invoicing_run(month=MONTH)


def issued_invoices(commune, **kwargs) -> list[Invoice]:
    """Issued invoices, by number: Martin 12,15 €, Durand 4,05 €."""
    run = prepared_run(commune, **kwargs)
    with commune_context(commune):
        services.issue_invoicing_run(run_id=run.pk)
        return list(Invoice.objects.order_by("number"))


def regie_row(commune) -> dict:
    with commune_context(commune):
        return Regie.objects.values().get(pk=services.get_regie().pk)


def settings_data(**changes) -> dict:
    data = {
        "name": "Restauration scolaire",
        "regie_code": "ca",
        "source": "foyer",
        "due_days": "45",
        "invoicing_day": "5",
        "mollie_key": MOLLIE_KEY,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# --- Régie settings ----------------------------------------------------------------------------------


def test_admin_saves_the_regie_with_the_mollie_key_encrypted_at_rest(client, commune_a, admin_a):
    # given
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, settings_path(commune_a)), settings_data(online_payment="on")
    )
    # then
    assert response.status_code == 302
    row = regie_row(commune_a)
    assert (
        row["regie_code"],
        row["due_days"],
        row["invoicing_day"],
        row["online_payment"],
        row["mollie_mode"],
    ) == (
        "CA",
        45,
        5,
        True,
        "test",
    )
    assert row["mollie_checked_at"] is not None
    assert decrypt_secret(row["mollie_key_encrypted"]) == MOLLIE_KEY
    assert not any("dHar4XY7" in str(value) for value in row.values())
    assert "activé (clé de test)" in page_text(client.get(response["Location"]))
    page = page_text(client.get(commune_path(commune_a, settings_path(commune_a))))
    assert (
        "Clé de test" in page
        and "Vérifiée auprès de Mollie et enregistrée le " in page
        and "Mode test : les paiements en ligne sont des essais" in page
    )
    assert "Le paiement en ligne est activé." in page
    assert "dHar4XY7" not in page


def test_an_empty_key_field_keeps_the_stored_key(client, commune_a, admin_a):
    # given
    client.force_login(admin_a)
    client.post(commune_path(commune_a, settings_path(commune_a)), settings_data())
    stored = regie_row(commune_a)["mollie_key_encrypted"]
    # when
    response = client.post(
        commune_path(commune_a, settings_path(commune_a)),
        settings_data(regie_code="RG2", mollie_key="", online_payment="on"),
    )
    # then
    assert response.status_code == 302
    row = regie_row(commune_a)
    assert (row["regie_code"], row["online_payment"], row["mollie_key_encrypted"]) == ("RG2", True, stored)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"mollie_key": "test_tooShort"},
            "Une clé API Mollie commence par « test_ » ou « live_ », suivi d'au moins 30 lettres ou chiffres.",
        ),
        (
            {"mollie_key": "sk_dHar4XY7LxsDOtmnkVtjNVWXLSlXsMaa"},
            "Une clé API Mollie commence par « test_ » ou « live_ », suivi d'au moins 30 lettres ou chiffres.",
        ),
        (
            {"mollie_key": "", "online_payment": "on"},
            "Enregistrez d'abord une clé API Mollie pour activer le paiement en ligne.",
        ),
        ({"regie_code": "C-A"}, "1 à 4 majuscules ou chiffres."),
    ],
)
def test_refused_regie_settings_change_nothing(client, commune_a, admin_a, changes, message):
    # given
    client.force_login(admin_a)
    before = regie_row(commune_a)
    # when
    response = client.post(commune_path(commune_a, settings_path(commune_a)), settings_data(**changes))
    # then
    assert response.status_code == 200
    assert message in page_text(response)
    assert "Le paiement en ligne est désactivé." in page_text(response)
    assert regie_row(commune_a) == before
    assert before["mollie_key_encrypted"] == ""


# --- Who may ------------------------------------------------------------------------------------------


def test_agents_get_403_on_the_regie_and_on_issuing_and_change_nothing(client, commune_a, agent_a):
    # given
    run = prepared_run(commune_a)
    before = regie_row(commune_a)
    client.force_login(agent_a)
    issue = f"{RUNS}{run.pk}/emission/"
    # when / then
    assert client.get(commune_path(commune_a, settings_path(commune_a))).status_code == 403
    assert client.post(commune_path(commune_a, settings_path(commune_a)), settings_data()).status_code == 403
    assert client.get(commune_path(commune_a, issue)).status_code == 403
    assert client.post(commune_path(commune_a, issue)).status_code == 403
    assert regie_row(commune_a) == before
    with commune_context(commune_a):
        assert InvoicingRun.objects.get().status == "draft"
        assert list(Invoice.objects.values_list("status", "number")) == [("draft", None), ("draft", None)]
    page = page_text(client.get(commune_path(commune_a, f"{RUNS}{run.pk}/")))
    assert "Un administrateur de la commune émet les factures après vérification." in page


@pytest.mark.parametrize("who", ["staff of commune B", "a family of commune A"])
def test_others_get_404_on_every_billing_page_and_change_nothing(client, commune_a, commune_b, who):
    # given
    invoice = issued_invoices(commune_a)[0]
    with commune_context(commune_a):
        run_id = InvoicingRun.objects.get().pk
    if who == "staff of commune B":
        user = make_staff(commune_b, "chef@demo.test", role=StaffRole.Role.ADMIN)
    else:
        user = (
            make_family(commune_a, email="parent@example.fr", name="Parent", dossier="F00099")
            .family.guardians.get()
            .account
        )
    client.force_login(user)
    pages = [
        RUNS,
        f"{RUNS}{run_id}/",
        f"{RUNS}{run_id}/emission/",
        f"{RUNS}factures/{invoice.pk}/",
        f"{RUNS}factures/{invoice.pk}/pdf/",
        f"{RUNS}paiements/",
        settings_path(commune_a),
        REGIES,
    ]
    writes = {
        f"{RUNS}preparer/": {"month": MONTH.isoformat()},
        f"{RUNS}{run_id}/emission/": {},
        f"{RUNS}factures/{invoice.pk}/": {"method": "cash", "amount": "1,00"},
        settings_path(commune_a): settings_data(),
        f"{REGIES}nouvelle/": settings_data(regie_code="ZZ"),
    }
    # when / then
    for path in pages:
        assert client.get(commune_path(commune_a, path)).status_code == 404, path
    for path, data in writes.items():
        assert client.post(commune_path(commune_a, path), data).status_code == 404, path
    with commune_context(commune_a):
        assert not Payment.objects.exists()
        assert InvoicingRun.objects.count() == 1
    assert regie_row(commune_a)["mollie_key_encrypted"] == ""


def test_commune_b_staff_cannot_reach_commune_a_invoices_from_their_own_console(
    client, commune_a, commune_b, agent_b
):
    # given
    invoice = issued_invoices(commune_a)[0]
    client.force_login(agent_b)
    # when / then: commune B's schema has no such invoice
    for path in (
        f"{RUNS}factures/{invoice.pk}/",
        f"{RUNS}factures/{invoice.pk}/pdf/",
        f"{RUNS}{invoice.run_id}/",
    ):
        assert client.get(commune_path(commune_b, path)).status_code == 404, path


# --- Invoicing runs -----------------------------------------------------------------------------------


def test_prepare_shows_the_journal_then_issuing_numbers_the_invoices(client, commune_a, admin_a):
    # given
    meals_last_month(commune_a)
    client.force_login(admin_a)
    assert (
        f'<option value="{MONTH.isoformat()}" selected>{MONTH_LABEL}</option>'
        in client.get(commune_path(commune_a, RUNS)).content.decode()
    )
    # when: prepared
    response = client.post(commune_path(commune_a, f"{RUNS}preparer/"), {"month": MONTH.isoformat()})
    # then: the drafts and the journal
    with commune_context(commune_a):
        run = InvoicingRun.objects.get()
    assert response["Location"] == commune_path(commune_a, f"{RUNS}{run.pk}/")
    page = page_text(client.get(response["Location"]))
    assert f"Facturation de {MONTH_LABEL} (Régie principale) préparée : 2 factures en brouillon." in page
    assert (
        "Martin : adresse du payeur incomplète." in page and "Durand : adresse du payeur incomplète." in page
    )
    assert "12,15\u00a0€" in page and "4,05\u00a0€" in page and "16,20\u00a0€" in page
    # when: confirmed, then issued
    confirm = page_text(client.get(commune_path(commune_a, f"{RUNS}{run.pk}/emission/")))
    assert "2 factures en brouillon, 16,20\u00a0€ en tout" in confirm
    response = client.post(commune_path(commune_a, f"{RUNS}{run.pk}/emission/"))
    # then
    year = timezone.localdate().year
    with commune_context(commune_a):
        assert list(
            Invoice.objects.order_by("number").values_list("number", "reference", "status", "payer_name")
        ) == [
            (1, f"{year}-RG-00-1", "issued", "Camille MARTIN"),
            (2, f"{year}-RG-00-2", "issued", "Camille DURAND"),
        ]
    page = page_text(client.get(response["Location"]))
    assert "2 factures émises ; les familles sont prévenues par e-mail." in page
    assert f"{year}-RG-00-1" in page and "Camille MARTIN" in page and "À payer" in page


def test_preparing_an_issued_month_again_is_refused_and_changes_nothing(client, commune_a, agent_a):
    # given
    issued = issued_invoices(commune_a)
    client.force_login(agent_a)
    # when
    response = client.post(commune_path(commune_a, f"{RUNS}preparer/"), {"month": MONTH.isoformat()})
    # then
    assert response.status_code == 200
    assert "La facturation de ce mois est déjà émise : corrigez par des avoirs." in page_text(response)
    with commune_context(commune_a):
        assert list(Invoice.objects.order_by("number")) == issued
        assert [i.status for i in Invoice.objects.all()] == ["issued", "issued"]


# --- Invoices and counter payments --------------------------------------------------------------------


def test_counter_payments_settle_an_invoice_in_parts(client, commune_a, agent_a):
    # given: Martin owes 12,15 €
    invoice = issued_invoices(commune_a)[0]
    client.force_login(agent_a)
    url = commune_path(commune_a, f"{RUNS}factures/{invoice.pk}/")
    # when: part in cash, then the rest by cheque
    first = client.post(url, {"method": "cash", "amount": "5,15", "reference": ""})
    with commune_context(commune_a):
        invoice.refresh_from_db()
        assert (invoice.paid_amount, invoice.status) == (Decimal("5.15"), "issued")
    second = client.post(url, {"method": "check", "amount": "7.00", "reference": "CHQ 123"})
    # then
    assert (first.status_code, second.status_code) == (302, 302)
    with commune_context(commune_a):
        invoice.refresh_from_db()
        assert (invoice.paid_amount, invoice.status) == (Decimal("12.15"), "paid")
        assert list(
            Payment.objects.order_by("pk").values_list("method", "amount", "reference", "recorded_by")
        ) == [
            ("cash", Decimal("5.15"), "", agent_a.pk),
            ("check", Decimal("7.00"), "CHQ 123", agent_a.pk),
        ]
    page = page_text(client.get(url))
    assert "Paiement de 7,00\u00a0€ enregistré (chèque)." in page
    assert "Payée" in page and "CHQ 123" in page
    assert "Enregistrer un paiement au guichet" not in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "cash", "amount": "12,16"}, "Au plus 12,15\u00a0€."),
        ({"method": "cash", "amount": "0"}, "Saisissez un montant supérieur à 0."),
        (
            {"method": "online", "amount": "1,00"},
            "Sélectionnez un choix valide. online n’en fait pas partie.",
        ),
        ({"method": "cesu", "amount": "douze"}, "Saisissez un nombre."),
    ],
)
def test_refused_counter_payments_change_nothing(client, commune_a, agent_a, data, message):
    # given
    invoice = issued_invoices(commune_a)[0]
    client.force_login(agent_a)
    # when
    response = client.post(commune_path(commune_a, f"{RUNS}factures/{invoice.pk}/"), data)
    # then
    assert response.status_code == 200
    assert message in page_text(response)
    with commune_context(commune_a):
        assert not Payment.objects.exists()
        invoice.refresh_from_db()
        assert (invoice.paid_amount, invoice.status) == (Decimal("0.00"), "issued")


def test_a_draft_invoice_takes_no_payment_and_has_no_pdf(client, commune_a, agent_a):
    # given
    run = prepared_run(commune_a)
    with commune_context(commune_a):
        draft = run.invoices.order_by("pk").first()
    client.force_login(agent_a)
    url = commune_path(commune_a, f"{RUNS}factures/{draft.pk}/")
    # when
    response = client.post(url, {"method": "cash", "amount": "1,00"})
    # then
    assert "Cette facture n'est pas émise." in page_text(response)
    assert client.get(f"{url}pdf/").status_code == 404
    with commune_context(commune_a):
        assert not Payment.objects.exists()


def test_staff_download_the_invoice_pdf(client, commune_a, agent_a):
    # given
    invoice = issued_invoices(commune_a)[0]
    client.force_login(agent_a)
    # when
    response = client.get(commune_path(commune_a, f"{RUNS}factures/{invoice.pk}/pdf/"))
    # then
    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="facture-{invoice.reference}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert body.startswith(b"%PDF-")
    assert f"/Title (Facture {invoice.reference})".encode() in body


# --- Payments received --------------------------------------------------------------------------------


def test_payments_list_filters_by_method_with_a_total(client, commune_a, agent_a):
    # given
    martin, durand = issued_invoices(commune_a)
    with commune_context(commune_a):
        services.record_payment(invoice_id=martin.pk, method="cash", amount=Decimal("2.00"))
        services.record_payment(invoice_id=martin.pk, method="check", amount=Decimal("10.15"))
        services.record_payment(invoice_id=durand.pk, method="cash", amount=Decimal("4.05"))
    client.force_login(agent_a)
    # when
    everything = page_text(client.get(commune_path(commune_a, f"{RUNS}paiements/")))
    cash = page_text(client.get(commune_path(commune_a, f"{RUNS}paiements/?mode=cash")))
    # then
    assert "3 paiements, 16,20\u00a0€ en tout" in everything
    assert "2 paiements, 6,05\u00a0€ en tout" in cash
    assert "Chèque" not in cash.split("<tbody>")[1] and "10,15" not in cash
    assert martin.reference in cash and durand.reference in cash and "Durand" in cash


# --- Queries do not grow with rows --------------------------------------------------------------------


def test_billing_pages_cost_the_same_queries_for_many_rows(
    client, commune_a, admin_a, django_assert_max_num_queries
):
    # given: 5 invoices, each with a payment
    invoices = issued_invoices(commune_a, families=5)
    with commune_context(commune_a):
        for invoice in invoices:
            services.record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("1.00"))
    client.force_login(admin_a)
    # when / then: commune, session, account, staff role (and SET search_path), then the rows
    for path, queries in {
        RUNS: 10,  # with the régies (the prepare form, the imports and exports)
        f"{RUNS}{invoices[0].run_id}/": 9,
        f"{RUNS}factures/{invoices[0].pk}/": 10,  # with its avoirs
        f"{RUNS}paiements/": 9,
    }.items():
        with django_assert_max_num_queries(queries):
            assert client.get(commune_path(commune_a, path)).status_code == 200


def test_a_key_mollie_cannot_check_is_refused_and_nothing_is_saved(client, commune_a, admin_a, mollie):
    mollie.inject_fault("status 500", method="GET", path="/v2/payments")
    client.force_login(admin_a)
    page = client.post(commune_path(commune_a, settings_path(commune_a)), settings_data()).content.decode()
    assert "Mollie ne répond pas" in html.unescape(page)
    assert regie_row(commune_a)["mollie_key_encrypted"] == ""


def test_admin_issues_a_credit_note_and_an_agent_cannot(client, commune_a, admin_a):
    family = family_in(commune_a, "avoir@example.fr", name="Avoir", dossier="F09999").family
    canteen = make_catalogue(commune_a, code="AVOIR")
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    with commune_context(commune_a):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=month + dt.timedelta(days=3),
            status="confirmed",
            price=Decimal("4.05"),
        )
        run = services.prepare_invoicing_run(month=month)
        services.issue_invoicing_run(run_id=run.pk)
        invoice = Invoice.objects.get(family=family)
    url = commune_path(commune_a, f"console/facturation/factures/{invoice.pk}/avoir/")
    agent = make_staff(commune_a, "agent.avoir@jolieville.test")
    client.force_login(agent)
    assert client.post(url, {"amount": "1,00", "reason": "repas non servi"}).status_code == 403
    client.force_login(admin_a)
    client.post(url, {"amount": "9,00", "reason": "trop"})
    client.post(url, {"amount": "1,00", "reason": "repas non servi"})
    page = html.unescape(
        client.get(commune_path(commune_a, f"console/facturation/factures/{invoice.pk}/")).content.decode()
    )
    assert "repas non servi" in page and "sera déduit de la prochaine facture" in page
    with commune_context(commune_a):
        assert list(invoice.credit_notes.values_list("amount", flat=True)) == [Decimal("1.00")]
