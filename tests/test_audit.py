"""The audit log: what a commune's staff change is recorded in the commune's own schema (who,
what, when, before and after), secrets never; families' actions never; entries can be neither
changed nor deleted; the console page is for administrators, searchable, in fixed queries."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.formats import date_format

from audit.models import AppendOnly, AuditEntry
from audit.scope import AuditScope, opened
from billing.fake_mollie import TEST_KEY, FakeMollie
from billing.models import Invoice, default_regie_id
from billing.services import issue_invoicing_run, prepare_invoicing_run
from demandes.models import Request
from family.imports import request_family_invitations
from foyer.formatting import format_money
from operators.services import suspend_commune
from reservations.models import Booking, Prestation, Site
from shared_identity.models import Account, Child, Invitation, Membership, StaffRole
from tenants.context import commune_context
from tests.billing.test_payments import _online, _pay, _webhook
from tests.conftest import PASSWORD, commune_path, make_account, make_family, make_staff
from tests.demandes.conftest import file_pickup, install_default_categories
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue
from tests.test_family_import import MARTIN_LEA, PETIT, confirm, csv_bytes, token_of, upload

PARIS = ZoneInfo("Europe/Paris")
JOURNAL = "console/journal/"
MOLLIE_KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
OTHER_KEY = "test_Zk9YpQ2LmN4vB6xC8dF0gH1jK3lM5n"


@pytest.fixture
def mollie_server(settings):
    """The fake Mollie on loopback, with Foyer's settings pointing at it; it knows the keys
    these tests save in the régie and TEST_KEY (online payments)."""
    with FakeMollie("127.0.0.1", 0, webhook_retry_delays=(0.05, 0.1, 0.2)) as fake:
        fake.add_account(MOLLIE_KEY, "Régie cantine – JolieVille")
        fake.add_account(OTHER_KEY, "Régie cantine – JolieVille (nouveau compte)")
        fake.add_account(TEST_KEY, "Régie en ligne – JolieVille")
        settings.MOLLIE_API_ENDPOINT = fake.base_url
        yield fake


@pytest.fixture
def admin_a(commune_a):
    return make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)


@pytest.fixture
def admin_b(commune_b):
    return make_staff(commune_b, "chef@demo.test", role=StaffRole.Role.ADMIN)


def entries(commune) -> list[AuditEntry]:
    with commune_context(commune):
        return list(AuditEntry.objects.order_by("pk"))


def actions(commune) -> list[str]:
    return [entry.action for entry in entries(commune)]


def page_text(response) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def prestation_data(catalogue, **changes) -> dict:
    """The prestation form of make_catalogue's prestation, with two price brackets."""
    data = {
        "service": catalogue.service.pk,
        "label": "Repas",
        "code": "REPAS",
        "colour": "#16a34a",
        "billing_mode": "month_end",
        "is_active": "on",
        "weekdays": ["0", "1", "3", "4"],
        "period": "school",
        "start_time": "12:00",
        "booking_rule_kind": "days_before",
        "booking_rule_days": "2",
        "booking_rule_cutoff": "10:00",
        "cancellation_rule_kind": "hours_before",
        "cancellation_rule_hours": "72",
        "base_price": "4,05",
        "late_price": "",
        "unbooked_presence_price": "",
        "sites": [str(catalogue.site.pk)],
        f"capacity_{catalogue.site.pk}": "80",
        "brackets-TOTAL_FORMS": "2",
        "brackets-INITIAL_FORMS": "0",
        "brackets-MIN_NUM_FORMS": "0",
        "brackets-MAX_NUM_FORMS": "1000",
        "brackets-0-qf_min": "0",
        "brackets-0-qf_max": "600",
        "brackets-0-price": "1,00",
        "brackets-1-qf_min": "601",
        "brackets-1-qf_max": "",
        "brackets-1-price": "3,10",
    }
    data.update(changes)
    return data


# --- What staff change is recorded -------------------------------------------------------------------


def test_a_catalogue_change_is_one_entry_with_who_and_before_after(client, commune_a, admin_a):
    # given a prestation saved once from the console
    canteen = make_catalogue(commune_a)
    client.force_login(admin_a)
    url = commune_path(commune_a, f"console/catalogue/prestations/{canteen.prestation.pk}/")
    assert client.post(url, prestation_data(canteen)).status_code == 302
    first = entries(commune_a)
    # when its price and one bracket change
    response = client.post(
        url,
        prestation_data(canteen, base_price="4,20", **{"brackets-1-price": "3,30"}),
        REMOTE_ADDR="192.0.2.7",
    )
    # then one entry says who changed what, from what to what
    assert response.status_code == 302
    assert [entry.action for entry in first] == ["prestation.update"]
    entry = entries(commune_a)[-1]
    assert len(entries(commune_a)) == 2
    assert (entry.action, entry.object_type, entry.object_id, entry.object_label) == (
        "prestation.update",
        "prestation",
        str(canteen.prestation.pk),
        "Repas (REPAS)",
    )
    assert (entry.actor_id, entry.actor_label, entry.role, entry.ip_address) == (
        admin_a.pk,
        "Camille Martin <chef@jolieville.test>",
        "admin",
        "192.0.2.7",
    )
    assert re.fullmatch(r"[0-9a-f]{32}", entry.request_id)
    assert entry.summary == (
        "Modification : prestation « Repas (REPAS) » — prix de base, tranches de quotient familial"
    )
    assert entry.changes == {
        "base_price": ["4.05", "4.20"],
        "brackets": [
            [f"QF 0 à 600 : {format_money('1.00')}", f"QF 601 et plus : {format_money('3.10')}"],
            [f"QF 0 à 600 : {format_money('1.00')}", f"QF 601 et plus : {format_money('3.30')}"],
        ],
    }
    # and the first save recorded the fields and the places per site it changed
    assert first[0].changes["sites"] == [["École REPAS : sans limite"], ["École REPAS : 80\u00a0places"]]
    assert first[0].changes["label"] == ["Prestation REPAS", "Repas"]


def test_creating_a_service_records_the_whole_row(client, commune_a, admin_a):
    client.force_login(admin_a)
    # when
    client.post(
        commune_path(commune_a, "console/catalogue/services/nouveau/"),
        {"name": "Périscolaire", "description": "", "is_active": "on", "late_cancellation": "no_credit"},
    )
    # then
    [entry] = entries(commune_a)
    assert (entry.action, entry.object_label, entry.summary) == (
        "service.create",
        "Périscolaire",
        "Création : service « Périscolaire »",
    )
    assert entry.changes == {
        "after": {
            "name": "Périscolaire",
            "description": "",
            "is_active": True,
            "late_cancellation": "no_credit",
            "regie": None,
            "tax_credit_eligible": False,
        }
    }


def test_a_family_dossier_created_then_edited_by_an_agent(client, commune_a, agent_a):
    client.force_login(agent_a)
    # when an agent opens a dossier with one child
    response = client.post(
        commune_path(commune_a, "console/familles/nouvelle/"),
        {
            "family_name": "Martin",
            "guardian_first_name": "Camille",
            "guardian_last_name": "Martin",
            "guardian_email": "camille@example.fr",
            "children-TOTAL_FORMS": "1",
            "children-INITIAL_FORMS": "0",
            "children-MIN_NUM_FORMS": "0",
            "children-MAX_NUM_FORMS": "10",
            "children-0-first_name": "Léa",
            "children-0-last_name": "Martin",
            "children-0-birth_date": "2017-05-14",
        },
    )
    membership = Membership.objects.get(commune=commune_a)
    # and sets the family's quotient familial, then corrects it
    quotient_url = commune_path(commune_a, f"console/familles/{membership.pk}/quotient/")
    client.post(quotient_url, {"qf-value": "640", "qf-valid_from": "2026-01-01"})
    client.post(quotient_url, {"qf-value": "700", "qf-valid_from": "2026-01-01"})
    # then every row is in the log, the children written in bulk too
    assert response.status_code == 302
    recorded = entries(commune_a)
    assert [(e.action, e.object_label) for e in recorded] == [
        ("family.create", "Martin"),
        ("guardian.create", "Camille Martin (camille@example.fr)"),
        ("child.create", "Léa Martin"),
        ("membership.create", "n° F00001 (Martin)"),
        ("quotient.create", "Martin, à partir du 01/01/2026"),
        ("quotient.update", "Martin, à partir du 01/01/2026"),
    ]
    assert {e.actor_label for e in recorded} == {"Camille Martin <agent@jolieville.test>"}
    assert {e.role for e in recorded} == {"agent"}
    assert recorded[2].changes["after"]["birth_date"] == "2017-05-14"
    assert recorded[3].changes["after"]["commune"] == {"id": commune_a.pk, "label": "Commune de JolieVille"}
    assert recorded[5].changes == {"value": [640, 700]}
    assert recorded[5].summary == (
        "Modification : quotient familial « Martin, à partir du 01/01/2026 » — quotient familial"
    )


def test_a_request_decision_is_recorded(client, commune_a, agent_a):
    # given a family's request
    install_default_categories(commune_a)
    membership = make_family(commune_a, email="parent@example.fr")
    request = file_pickup(commune_a, membership)
    client.force_login(agent_a)
    # when the agent accepts it
    response = client.post(
        commune_path(commune_a, f"console/demandes/{request.pk}/statut/"),
        {"statut-status": "accepted", "statut-message": "Autorisation enregistrée à l'école."},
    )
    # then
    assert response.status_code == 302
    [entry] = entries(commune_a)
    with commune_context(commune_a):
        closed_at = Request.objects.get().closed_at
    assert (entry.action, entry.object_id, entry.actor_id) == ("request.update", str(request.pk), agent_a.pk)
    assert entry.changes == {"status": ["submitted", "accepted"], "closed_at": [None, closed_at.isoformat()]}
    assert entry.summary.startswith(f"Modification : demande « n° {request.pk} — ")


def test_the_regie_key_is_recorded_as_changed_but_never_stored(client, commune_a, admin_a, mollie_server):
    client.force_login(admin_a)
    with commune_context(commune_a):
        url = commune_path(commune_a, f"console/facturation/regies/{default_regie_id()}/")
    data = {
        "name": "Régie principale",
        "regie_code": "ca",
        "source": "foyer",
        "due_days": "45",
        "invoicing_day": "5",
        "online_payment": "on",
    }
    # when the admin sets a Mollie key, then replaces it
    assert client.post(url, {**data, "mollie_key": MOLLIE_KEY}).status_code == 302
    assert client.post(url, {**data, "mollie_key": OTHER_KEY}).status_code == 302
    # then
    first, second = entries(commune_a)
    assert first.action == "regie.update"
    assert first.changes["mollie_key_encrypted"] == ["", "••••"]
    assert first.changes["regie_code"] == ["RG", "CA"]
    assert first.changes["online_payment"] == [False, True]
    assert first.changes["mollie_mode"] == ["", "test"]
    assert set(first.changes) == {
        "regie_code",
        "due_days",
        "invoicing_day",
        "online_payment",
        "mollie_key_encrypted",
        "mollie_mode",
        "mollie_checked_at",
        "saved_at",
    }
    assert second.changes["mollie_key_encrypted"] == ["••••", "••••"]
    with commune_context(commune_a):
        stored = AuditEntry.objects.values_list("changes", "summary")
        dumped = json.dumps(list(stored), ensure_ascii=False)
        from billing.models import Regie

        encrypted = Regie.objects.get().mollie_key_encrypted
    assert "dHar4XY7" not in dumped and "Zk9YpQ2" not in dumped and encrypted not in dumped
    page = page_text(client.get(commune_path(commune_a, JOURNAL)))
    assert "clé API Mollie : avant : •••• → après : ••••" in page and "Zk9YpQ2" not in page


def test_a_mass_cancellation_is_one_entry_for_all_its_bookings(client, commune_a, agent_a):
    # given two prepaid bookings of two families
    garderie = make_catalogue(commune_a, code="GARDE", billing_mode=Prestation.BillingMode.PREPAID)
    bookings = []
    for name in ("Martin", "Durand"):
        child = family_in(commune_a, f"{name.lower()}@example.fr", name=name, dossier=f"D-{name}").family
        child = child.children.get()
        enrol(garderie, child)
        with commune_context(commune_a):
            bookings.append(
                Booking.objects.create(
                    child=child,
                    family_id=child.family_id,
                    prestation=garderie.prestation,
                    site=garderie.site,
                    date=MONDAY,
                    status="confirmed",
                    price=Decimal("4.05"),
                )
            )
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/annulation-collective/"),
        {
            "date": f"{MONDAY:%Y-%m-%d}",
            "site": garderie.site.pk,
            "prestation": "",
            "reason": "Grève",
            "confirmer": "1",
        },
    )
    # then: the site's closure, and one entry for the bookings (none per booking or credit)
    assert response.status_code == 302
    closure, operation = entries(commune_a)
    assert (closure.action, closure.changes["after"]["reason"]) == ("closure.create", "Grève")
    assert (operation.action, operation.object_type, operation.object_id) == (
        "booking.mass_cancel",
        "site",
        str(garderie.site.pk),
    )
    assert operation.summary == (
        "Annulation collective : École GARDE le 11/01/2027 — 2 réservations annulées, "
        "2 familles prévenues. Motif : Grève"
    )
    assert operation.changes == {
        "date": "2027-01-11",
        "site": {"id": garderie.site.pk, "label": "École GARDE"},
        "reason": "Grève",
        "status": ["confirmed", "cancelled"],
        "bookings": sorted(b.pk for b in bookings),
        "families": 2,
        "credits": 2,
        "credit_total": "8.10",
    }


def test_a_pointage_is_recorded_on_the_booking(monkeypatch, client, commune_a, agent_a):
    monkeypatch.setattr("django.utils.timezone.now", lambda: at(MONDAY, 19))  # a day is pointed once come
    # given a booked child
    canteen = make_catalogue(commune_a)
    child = family_in(commune_a, "parent@example.fr").family.children.get()
    enrol(canteen, child)
    with commune_context(commune_a):
        booking = Booking.objects.create(
            child=child,
            family_id=child.family_id,
            prestation=canteen.prestation,
            site=canteen.site,
            date=MONDAY,
            status="confirmed",
            price=Decimal("4.05"),
        )
    client.force_login(agent_a)
    # when the agent marks the child present
    client.post(
        commune_path(commune_a, "console/pointage/marquer/"),
        {
            "jour": f"{MONDAY:%Y-%m-%d}",
            "site": canteen.site.pk,
            "prestation": canteen.prestation.pk,
            "enfant": child.pk,
            "statut": "attended",
        },
    )
    # then
    [entry] = entries(commune_a)
    assert (entry.action, entry.object_id, entry.object_label) == (
        "booking.update",
        str(booking.pk),
        "Léa Martin, Prestation REPAS le 11/01/2027",
    )
    assert entry.changes["status"] == ["confirmed", "attended"]
    assert entry.changes["attendance_marked_by"] == [
        None,
        {"id": agent_a.pk, "label": "Camille Martin <agent@jolieville.test>"},
    ]


def test_a_csv_import_records_each_dossier_and_the_import(client, commune_a, agent_a):
    client.force_login(agent_a)
    # when two dossiers are imported, then one of them is imported again with a new city
    confirm(client, commune_a, token_of(upload(client, commune_a, csv_bytes(MARTIN_LEA, PETIT))))
    moved = MARTIN_LEA.replace(";JolieVille;", ";Grenoble;", 1)
    confirm(client, commune_a, token_of(upload(client, commune_a, csv_bytes(moved, PETIT))))
    # then
    martin = Membership.objects.get(commune=commune_a, dossier_number="A100")
    petit = Membership.objects.get(commune=commune_a, dossier_number="A102")
    recorded = entries(commune_a)
    assert [(e.action, e.object_id, e.object_label) for e in recorded] == [
        ("family_import.run", "", ""),
        ("membership.import_create", str(martin.pk), "n° A100 (Martin)"),
        ("membership.import_create", str(petit.pk), "n° A102 (Petit)"),
        ("family_import.run", "", ""),
        ("membership.import_update", str(martin.pk), "n° A100 (Martin)"),
    ]
    assert recorded[0].summary == (
        "Import de familles (CSV) : 2 créé(s), 0 mis à jour, 0 inchangé(s), 0 tenu(s) par la famille, "
        "0 en erreur."
    )
    assert recorded[4].changes == {"import": ["Ville : « JolieVille » → « Grenoble »"]}
    assert recorded[1].changes["import"][0].startswith("Responsables : Camille Martin (camille@example.fr)")
    assert {e.actor_id for e in recorded} == {agent_a.pk}


def test_bulk_activation_is_one_entry_and_the_tasks_record_nothing(
    commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given two dossiers never invited
    first = make_family(commune_a, email="a@example.fr", active=False, dossier="F1")
    second = make_family(commune_a, email="b@example.fr", active=False, dossier="F2")
    scope = AuditScope(
        commune=commune_a, actor=agent_a, actor_label="Agent <agent@jolieville.test>", role="agent"
    )
    # when the agent asks for the links, and the tasks send them (eagerly, inside the request)
    with commune_context(commune_a), opened(scope), django_capture_on_commit_callbacks(execute=True):
        request_family_invitations(commune=commune_a, actor=agent_a, membership_ids=[first.pk, second.pk])
    # then the invitations exist, and the log has the request only
    assert Invitation.objects.filter(kind="family").count() == 2
    [entry] = entries(commune_a)
    assert (entry.action, entry.changes) == (
        "activation.bulk_send",
        {"memberships": [first.pk, second.pk], "already_active": 0},
    )


def test_invoicing_run_prepared_and_issued_from_the_console(client, commune_a, admin_a):
    # given month-end meals last month
    month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    canteen = make_catalogue(commune_a)
    child = family_in(commune_a, "martin@example.fr").family.children.get()
    enrol(canteen, child)
    with commune_context(commune_a):
        Booking.objects.create(
            child=child,
            family_id=child.family_id,
            prestation=canteen.prestation,
            site=canteen.site,
            date=month.replace(day=4),
            status="confirmed",
            price=Decimal("4.05"),
        )
    client.force_login(admin_a)
    # when
    client.post(commune_path(commune_a, "console/facturation/preparer/"), {"month": month.isoformat()})
    with commune_context(commune_a):
        run_id = Invoice.objects.get().run_id
    client.post(commune_path(commune_a, f"console/facturation/{run_id}/emission/"))
    # then
    with commune_context(commune_a):
        reference = Invoice.objects.get().reference
    prepared, issued = entries(commune_a)
    assert (prepared.action, prepared.object_id, prepared.changes["invoices"]) == (
        "invoicing_run.prepare",
        str(run_id),
        1,
    )
    assert issued.action == "invoicing_run.issue"
    assert issued.changes == {
        "status": ["draft", "issued"],
        "invoices": 1,
        "first_reference": reference,
        "last_reference": reference,
        "total": "4.05",
    }
    page = page_text(client.get(commune_path(commune_a, JOURNAL)))
    assert f"Facturation de {date_format(month, 'F Y')} émise : 1 facture ({reference} à {reference})" in page
    assert "statut : avant : Brouillon → après : Émise" in page


def test_booking_settings_saved_with_an_update_are_recorded(client, commune_a, admin_a):
    client.force_login(admin_a)
    # when
    client.post(commune_path(commune_a, "console/reglages/"), {"booking_hold_minutes": "45"})
    # then
    [entry] = entries(commune_a)
    assert (entry.action, entry.object_type, entry.changes) == (
        "commune.update",
        "commune",
        {"booking_hold_minutes": [30, 45]},
    )


def test_a_staff_invitation_and_its_acceptance_are_recorded(
    client, commune_a, admin_a, django_capture_on_commit_callbacks
):
    client.force_login(admin_a)
    mail.outbox.clear()
    # when the admin invites an agent, who creates their account from the link
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, "console/equipe/"), {"email": "noa@jolieville.test", "role": "agent"}
        )
    link = re.search(r"http://testserver(/c/jolieville/console/invitation/\S+/)", mail.outbox[-1].body).group(
        1
    )
    client.logout()
    client.post(
        link,
        {
            "first_name": "Noa",
            "last_name": "Bernard",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        },
    )
    # then: the invitation (its link never stored), and the new member joining, in their name
    invited, joined = entries(commune_a)
    assert (invited.action, invited.actor_id) == ("invitation.create", admin_a.pk)
    assert invited.changes["after"]["token_hash"] == "••••"
    assert invited.changes["after"]["email"] == "noa@jolieville.test"
    noa = Account.objects.get(email="noa@jolieville.test")
    assert (joined.action, joined.role, joined.actor_id, joined.actor_label) == (
        "staff_role.create",
        "agent",
        noa.pk,
        "Noa Bernard <noa@jolieville.test>",
    )
    assert joined.summary == "Invitation acceptée : noa@jolieville.test — Agent rejoint l'équipe"


def test_an_object_saved_without_its_collections_call_is_recorded_at_commit(
    commune_a, admin_a, django_capture_on_commit_callbacks
):
    # given code that saves a site but does not call audit.related_saved()
    scope = AuditScope(
        commune=commune_a, actor=admin_a, actor_label="Chef <chef@jolieville.test>", role="admin"
    )
    with commune_context(commune_a), opened(scope):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            site = Site.objects.create(name="Gymnase")
            # then nothing is written before the commit
            assert AuditEntry.objects.count() == 0
    # and the entry is complete after it
    [entry] = entries(commune_a)
    assert (entry.action, entry.changes) == (
        "site.create",
        {"after": {"name": "Gymnase", "address": "", "services": []}},
    )
    assert entry.object_id == str(site.pk)


def test_an_operator_suspension_is_recorded_in_that_communes_log_only(commune_a, commune_b):
    operator = make_account("operateur@foyer.test", is_platform_operator=True)
    # when
    suspend_commune(commune=commune_a, reason="Impayés", actor=operator)
    # then
    [entry] = entries(commune_a)
    assert (entry.action, entry.role, entry.actor_id, entry.changes) == (
        "commune.update",
        "operator",
        operator.pk,
        {"status": ["active", "suspended"], "suspension_reason": ["", "Impayés"]},
    )
    assert entries(commune_b) == []
    assert connection.schema_name == "public"


# --- What is not recorded --------------------------------------------------------------------------


def test_family_actions_record_nothing_even_by_a_staff_member(client, commune_a, mollie_server):
    # given a parent who is also an agent of the commune, with an issued invoice
    canteen = make_catalogue(commune_a)
    membership = family_in(commune_a, "parent@example.fr")
    parent = membership.family.guardians.get().account
    StaffRole.objects.create(account=parent, commune=commune_a, role=StaffRole.Role.AGENT)
    child = membership.family.children.get()
    enrol(canteen, child)
    _online(commune_a)
    with commune_context(commune_a):
        Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=Decimal("4.05"),
        )
        run = prepare_invoicing_run(month=dt.date(2027, 1, 1))
        issue_invoicing_run(run_id=run.pk)
        invoice = Invoice.objects.get()
    client.force_login(parent)
    # when they book, cancel and pay as a family
    wednesday = (MONDAY + dt.timedelta(days=2)).isoformat()
    added = client.post(
        commune_path(commune_a, "api/panier/articles/"),
        {"child": child.pk, "prestation": canteen.prestation.pk, "site": canteen.site.pk, "date": wednesday},
        content_type="application/json",
    )
    validated = client.post("/api/panier/valider/").json()
    booking_id = validated["communes"][0]["bookings"][0]["id"]
    cancelled = client.post(commune_path(commune_a, f"api/reservations/{booking_id}/annuler/"))
    assert _pay(client, commune_a, invoice).status_code == 302
    with commune_context(commune_a):
        attempt = invoice.payment_attempts.get()
    mollie_server.set_status(attempt.provider_id, "paid", webhook=False)
    assert _webhook(client, commune_a, attempt).status_code == 200
    # then it all happened, and the log is empty
    assert (added.status_code, cancelled.status_code) == (201, 200)
    with commune_context(commune_a):
        assert Invoice.objects.get().status == "paid"
        assert Booking.objects.get(pk=booking_id).status == "cancelled"
    assert entries(commune_a) == []


def test_reading_pages_records_nothing(client, commune_a, admin_a):
    client.force_login(admin_a)
    for rest in ("console/", "console/facturation/regies/", "console/catalogue/prestations/", JOURNAL):
        assert client.get(commune_path(commune_a, rest)).status_code == 200
    assert entries(commune_a) == []


# --- Isolation and access --------------------------------------------------------------------------


def test_entries_land_in_the_communes_schema_only(client, commune_a, commune_b, admin_a, admin_b):
    # given a change in commune A's console
    client.force_login(admin_a)
    client.post(commune_path(commune_a, "console/reglages/"), {"booking_hold_minutes": "45"})
    # then A's log has it, B's is empty
    assert actions(commune_a) == ["commune.update"]
    assert entries(commune_b) == []
    page = page_text(client.get(commune_path(commune_a, JOURNAL)))
    assert "durée de blocage d'un panier à payer (minutes) : avant : 30 → après : 45" in page
    # and B's admin gets 404 on A's log, and sees an empty log of their own
    client.force_login(admin_b)
    assert client.get(commune_path(commune_a, JOURNAL)).status_code == 404
    own = page_text(client.get(commune_path(commune_b, JOURNAL)))
    assert "Aucune modification enregistrée pour l'instant." in own and "30 → 45" not in own


def test_an_agent_gets_403_and_a_family_404(client, commune_a, agent_a):
    client.force_login(agent_a)
    assert client.get(commune_path(commune_a, JOURNAL)).status_code == 403
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(family.family.guardians.get().account)
    assert client.get(commune_path(commune_a, JOURNAL)).status_code == 404


def test_the_navigation_shows_the_log_to_admins_only(client, commune_a, admin_a, agent_a):
    link = f'href="{commune_path(commune_a, JOURNAL)}"'
    client.force_login(admin_a)
    assert link in client.get(commune_path(commune_a, "console/")).content.decode()
    client.force_login(agent_a)
    assert link not in client.get(commune_path(commune_a, "console/")).content.decode()


# --- Append-only ------------------------------------------------------------------------------------


def _entry(commune, **fields) -> AuditEntry:
    values = {
        "actor_label": "Camille Martin <chef@jolieville.test>",
        "role": "admin",
        "action": "service.update",
        "object_type": "service",
        "summary": "Modification : service « Cantine »",
    }
    values.update(fields)
    with commune_context(commune):
        return AuditEntry.objects.create(**values)


def test_entries_cannot_be_changed_or_deleted(commune_a, admin_a):
    entry = _entry(commune_a, actor=admin_a)
    with commune_context(commune_a):
        # through the application
        entry.summary = "autre chose"
        for attempt in (entry.save, entry.delete, AuditEntry.objects.all().delete):
            with pytest.raises(AppendOnly):
                attempt()
        with pytest.raises(AppendOnly):
            AuditEntry.objects.update(summary="autre chose")
        # nor behind its back: the trigger refuses
        for sql in (
            "UPDATE audit_auditentry SET summary = 'autre chose'",
            "DELETE FROM audit_auditentry",
            "UPDATE audit_auditentry SET actor_id = NULL, summary = 'autre chose'",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(sql)
        # but an account's deletion may clear the reference, the label stays
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditentry SET actor_id = NULL")
        assert list(AuditEntry.objects.values_list("summary", "actor_id", "actor_label")) == [
            ("Modification : service « Cantine »", None, "Camille Martin <chef@jolieville.test>")
        ]


def test_every_commune_schema_has_the_append_only_trigger(commune_a, commune_b):
    # the session communes are clones of the template: the clone copies the trigger
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = 'audit_entry_append_only' "
            "ORDER BY n.nspname"
        )
        schemas = [row[0] for row in cursor.fetchall()]
    assert {"commune_template", commune_a.schema_name, commune_b.schema_name} <= set(schemas)


# --- The page: search, display, queries -----------------------------------------------------------


def _listed(client, commune, **query) -> list[str]:
    page = client.get(commune_path(commune, JOURNAL), query).content.decode()
    return re.findall(r'<p class="audit-summary">([^<]*)</p>', html.unescape(page))


def test_the_log_searches_by_text_actor_action_object_and_dates(client, commune_a, admin_a):
    # given entries of two people on three days
    paris = lambda day, hour: dt.datetime(2027, 1, day, hour, 0, tzinfo=PARIS)  # noqa: E731
    _entry(
        commune_a, summary="Création : service « Cantine »", action="service.create", created_at=paris(10, 9)
    )
    _entry(
        commune_a,
        summary="Modification : prestation « Repas (REPAS) » — prix de base",
        action="prestation.update",
        object_type="prestation",
        object_label="Repas (REPAS)",
        actor_label="Dominique Durand <agent@jolieville.test>",
        role="agent",
        created_at=paris(11, 23),
    )
    _entry(
        commune_a,
        summary="Annulation collective : École le 12/01/2027",
        action="booking.mass_cancel",
        object_type="site",
        object_id="7",
        created_at=paris(12, 0),
    )
    client.force_login(admin_a)
    cantine = "Création : service « Cantine »"
    repas = "Modification : prestation « Repas (REPAS) » — prix de base"
    masse = "Annulation collective : École le 12/01/2027"
    # then: newest first, each filter alone, then together
    assert _listed(client, commune_a) == [masse, repas, cantine]
    assert _listed(client, commune_a, q="repas") == [repas]
    assert _listed(client, commune_a, q="7") == [masse]
    assert _listed(client, commune_a, auteur="Dominique Durand <agent@jolieville.test>") == [repas]
    assert _listed(client, commune_a, action="create") == [cantine]
    assert _listed(client, commune_a, action="update") == [repas]
    assert _listed(client, commune_a, action="operation") == [masse]
    assert _listed(client, commune_a, objet="prestation") == [repas]
    # days are Paris days: 11/01 at 23:00 is the 11th
    assert _listed(client, commune_a, du="2027-01-11", au="2027-01-11") == [repas]
    assert _listed(client, commune_a, du="11/01/2027") == [masse, repas]
    assert _listed(client, commune_a, au="2027-01-10") == [cantine]
    assert _listed(client, commune_a, q="é", objet="site", du="2027-01-12") == [masse]
    # an impossible range says so and filters on the rest
    page = page_text(client.get(commune_path(commune_a, JOURNAL), {"du": "2027-01-12", "au": "2027-01-10"}))
    assert "La date de fin précède la date de début." in page
    # times are shown in the commune's time, French format
    assert "11/01/2027 à 23h00 — Dominique Durand <agent@jolieville.test> (Agent)" in page_text(
        client.get(commune_path(commune_a, JOURNAL), {"objet": "prestation"})
    )


def test_the_page_shows_before_and_after_per_field(client, commune_a, admin_a):
    canteen = make_catalogue(commune_a)
    client.force_login(admin_a)
    url = commune_path(commune_a, f"console/catalogue/prestations/{canteen.prestation.pk}/")
    client.post(url, prestation_data(canteen))
    # when
    page = page_text(client.get(commune_path(commune_a, JOURNAL)))
    # then
    assert "libellé : avant : Prestation REPAS → après : Repas" in page
    assert "prix de base : avant : 4,05\u00a0€ → après : 4,05\u00a0€" not in page
    assert (
        "jours d'ouverture : avant : lundi, mardi, mercredi, jeudi, vendredi → après : lundi, mardi, jeudi, vendredi"
        in (page)
    )
    assert (
        "sites et places par jour : avant : École REPAS : sans limite → après : École REPAS : 80 places"
        in page
    )


def test_the_log_page_costs_the_same_queries_whatever_its_length(
    client, commune_a, admin_a, django_assert_num_queries
):
    for index in range(3):
        _entry(commune_a, summary=f"Entrée {index}", changes={"value": [index, index + 1]})
    client.force_login(admin_a)
    client.get(commune_path(commune_a, JOURNAL))  # the session and caches warm up
    # the commune and its search_path (twice), the session, the account, the staff role (with its
    # second factor), the actors of the search form, the count, the page
    with django_assert_num_queries(9):
        first = client.get(commune_path(commune_a, JOURNAL))
    for index in range(60):
        _entry(commune_a, summary=f"Autre {index}", actor_label=f"Agent {index % 5} <a{index % 5}@x.fr>")
    with django_assert_num_queries(9):
        second = client.get(commune_path(commune_a, JOURNAL), {"page": "2"})
    assert first.status_code == second.status_code == 200
    assert "Page 2 sur 2" in page_text(second)


def test_children_created_in_bulk_outside_a_scope_are_not_recorded(commune_a):
    with commune_context(commune_a):
        family = make_family(commune_a, email="parent@example.fr").family
        Child.objects.create(family=family, first_name="Tom", last_name="Martin", birth_date=MONDAY)
    assert entries(commune_a) == []
