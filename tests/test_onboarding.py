"""Onboarding of a commune: the checklist computed from its data, the identity and branding
page (logo checked from its content, colour readable under white text), "Ouvrir aux
familles", and the gate that keeps families out (and activation e-mails unsent) until then."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from billing.console_services import save_regie
from billing.crypto import encrypt_secret
from billing.fake_mollie import TEST_KEY
from billing.models import Regie, default_regie_id
from console.onboarding import OPENING_HORIZON_WEEKS, get_onboarding_checklist
from console.services import open_commune, update_commune_identity
from demandes.models import RequestCategory
from foyer.errors import FoyerError
from operators.services import provision_commune
from reservations.deadlines import DeadlineRule
from reservations.models import Prestation, SchoolHoliday, Service, Site
from shared_identity.models import Invitation, Membership, StaffRole
from shared_identity.services import send_family_invitation
from tenants.context import commune_context
from tenants.models import Commune
from tenants.validation import contrast_with_white
from tests.conftest import (
    PASSWORD,
    commune_path,
    login_verified,
    make_account,
    make_family,
    make_operator,
    make_staff,
)
from tests.reservations.conftest import make_catalogue

ALL_STEPS = ["identity", "catalogue", "calendar", "regie", "categories", "staff", "open"]


def _image(kind: str = "PNG", size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (29, 78, 216)).save(buffer, kind)
    return buffer.getvalue()


def _not_open(commune: Commune) -> Commune:
    Commune.objects.filter(pk=commune.pk).update(opened_at=None)
    commune.refresh_from_db()
    return commune


def _steps(commune: Commune, **kwargs) -> dict:
    checklist = get_onboarding_checklist(commune=commune, **kwargs)
    assert [s.key for s in checklist.steps] == ALL_STEPS
    return {s.key: s for s in checklist.steps}


def _summary(step) -> tuple:
    return (step.state.value, list(step.missing))


@pytest.fixture
def admin_a(commune_a):
    return make_staff(commune_a, "admin@jolieville.test", role=StaffRole.Role.ADMIN)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _identity(commune: Commune) -> Commune:
    Commune.objects.filter(pk=commune.pk).update(
        contact_email="mairie@jolieville.fr", legal_mentions="Éditeur : la commune de JolieVille."
    )
    commune.refresh_from_db()
    return commune


def _regie(commune: Commune, **fields) -> None:
    with commune_context(commune):
        Regie.objects.update(**{"regie_code": "JV", "saved_at": timezone.now(), **fields})


def _category(commune: Commune, **fields) -> None:
    with commune_context(commune):
        RequestCategory.objects.create(code=fields.pop("code", "attestation"), title="Attestation", **fields)


def _ready(commune: Commune) -> Commune:
    """Every required step done."""
    commune = _identity(_not_open(commune))
    make_catalogue(commune)
    _regie(commune)
    _category(commune)
    return commune


# --- The checklist, step by step ---------------------------------------------------------------------


def test_an_empty_commune_is_told_what_each_step_misses(commune_a, admin_a):
    # given a commune with nothing set up yet (the session communes have no data)
    commune = _not_open(commune_a)
    # when
    steps = _steps(commune)
    # then
    assert _summary(steps["identity"]) == (
        "a_faire",
        [
            "L'adresse e-mail de contact des familles n'est pas renseignée.",
            "Les mentions légales ne sont pas renseignées.",
        ],
    )
    assert steps["identity"].notes == ("Pas de logo : le nom de la commune s'affiche seul (facultatif).",)
    assert _summary(steps["catalogue"]) == (
        "a_faire",
        [
            "Aucun service actif n'est créé (par exemple « Restauration scolaire »).",
            "Aucun site n'est créé (une école, un centre de loisirs…).",
        ],
    )
    assert steps["catalogue"].url == "/c/jolieville/console/catalogue/services/nouveau/"
    assert _summary(steps["calendar"]) == (
        "a_faire",
        ["Créez d'abord une prestation : son calendrier en dépend."],
    )
    assert _summary(steps["regie"]) == (
        "a_faire",
        [
            "Les réglages de la régie ne sont pas enregistrés : vérifiez son code (il figure dans la "
            "référence de chaque facture), le délai de paiement et le jour de facturation."
        ],
    )
    assert steps["regie"].url == "/c/jolieville/console/facturation/regies/"
    assert _summary(steps["categories"]) == (
        "a_faire",
        ["Aucune catégorie de demande n'est proposée aux familles."],
    )
    assert _summary(steps["staff"]) == (
        "facultatif",
        ["Personne d'autre n'est invité dans l'équipe : invitez vos agents, ou continuez seul(e)."],
    )
    assert _summary(steps["open"]) == (
        "a_faire",
        [
            "Terminez d'abord : Identité et charte, Services, sites, prestations, tarifs et délais, "
            "Calendrier d'ouverture, Régie et paiement en ligne, Catégories de demandes."
        ],
    )


def test_a_new_commune_starts_with_its_categories_done_and_no_staff_beyond_its_admin(db):
    # given a commune just provisioned (its schema is a clone of the template)
    commune = provision_commune(name="Ville-Neuve", slug="ville-neuve", admin_email="maire@ville-neuve.fr")
    # when
    checklist = get_onboarding_checklist(commune=commune)
    # then it is not open, the default categories are offered, the admin's invitation counts
    steps = {s.key: s for s in checklist.steps}
    assert commune.opened_at is None and not checklist.is_open
    assert steps["categories"].state == "fait"
    assert steps["categories"].notes == (
        "4 catégories sont proposées aux familles : vérifiez qu'elles vous conviennent.",
    )
    assert (steps["staff"].state, steps["staff"].notes) == ("fait", ("1 invitation attend une réponse.",))
    assert (checklist.done_count, checklist.total) == (2, 7)
    assert [s.key for s in checklist.blocking_steps] == ["identity", "catalogue", "calendar", "regie"]


def test_the_catalogue_step_says_what_no_prestation_has(commune_a, admin_a):
    # given a service, a site, and a free prestation with no site nor deadlines
    with commune_context(commune_a):
        service = Service.objects.create(name="Restauration scolaire")
        Site.objects.create(name="École du Parc").services.add(service)
        Prestation.objects.create(
            service=service, label="Repas", code="REPAS", weekdays=[0, 1, 3, 4], base_price=Decimal("0")
        )
    # when
    step = _steps(commune_a)["catalogue"]
    # then
    assert _summary(step) == (
        "a_faire",
        [
            "Aucune prestation n'est proposée sur un site.",
            "Aucune prestation n'a de tarif (un prix de base ou des tranches de quotient).",
            "Aucune prestation n'a de délai de réservation.",
            "Aucune prestation n'a de délai d'annulation.",
        ],
    )
    assert step.url == "/c/jolieville/console/catalogue/prestations/"


def test_the_catalogue_step_names_each_prestation_when_none_is_complete(commune_a, admin_a):
    # given two prestations, each missing something the other has
    catalogue = make_catalogue(commune_a)
    with commune_context(commune_a):
        Prestation.objects.filter(pk=catalogue.prestation.pk).update(booking_rule={"kind": "none"})
        Prestation.objects.create(
            service=catalogue.service,
            label="Goûter",
            code="GOUTER",
            weekdays=[0],
            base_price=Decimal("0.80"),
            booking_rule=DeadlineRule.days_before(1).to_dict(),
        )
    # when
    step = _steps(commune_a)["catalogue"]
    # then
    assert _summary(step) == (
        "a_faire",
        [
            "« Goûter » : aucun site, pas de délai d'annulation.",
            "« Prestation REPAS » : pas de délai de réservation.",
        ],
    )


def test_one_complete_prestation_makes_the_catalogue_done_and_drafts_are_noted(commune_a, admin_a):
    # given a complete prestation, and a draft one
    catalogue = make_catalogue(commune_a)
    with commune_context(commune_a):
        Prestation.objects.create(
            service=catalogue.service,
            label="Goûter",
            code="GOUTER",
            weekdays=[0],
            period=Prestation.Period.ALL,
            base_price=Decimal("0"),
        )
    # when
    steps = _steps(commune_a)
    # then
    assert _summary(steps["catalogue"]) == ("fait", [])
    assert steps["catalogue"].notes == (
        "Prestation prête : « Prestation REPAS ».",
        "À compléter avant de la proposer : « Goûter ».",
    )
    # and the calendar is done too (open all year, Monday to Friday)
    assert _summary(steps["calendar"]) == ("fait", [])


def test_school_period_prestations_need_school_holidays_ahead(commune_a, admin_a):
    # given a canteen open outside school holidays, and no holidays entered
    catalogue = make_catalogue(commune_a)
    today = dt.date(2027, 1, 11)
    with commune_context(commune_a):
        Prestation.objects.filter(pk=catalogue.prestation.pk).update(period=Prestation.Period.SCHOOL)
        SchoolHoliday.objects.create(
            name="Noël (passé)", start=dt.date(2026, 12, 19), end=dt.date(2027, 1, 3)
        )
    # when / then
    assert _summary(_steps(commune_a, today=today)["calendar"]) == (
        "a_faire",
        [
            "Aucune période de vacances scolaires à venir n'est saisie : « Prestation REPAS » suivent le "
            "calendrier scolaire et seraient ouvertes pendant les vacances."
        ],
    )
    # when the winter holidays are entered
    with commune_context(commune_a):
        SchoolHoliday.objects.create(name="Hiver", start=dt.date(2027, 2, 6), end=dt.date(2027, 2, 21))
    step = _steps(commune_a, today=today)["calendar"]
    # then
    assert _summary(step) == ("fait", [])
    assert step.notes == ("1 période de vacances scolaires à venir est saisie.",)


def test_a_prestation_that_opens_no_day_in_the_coming_weeks_is_named(commune_a, admin_a):
    # given a holiday-only prestation whose next holidays start beyond the horizon
    catalogue = make_catalogue(commune_a)
    today = dt.date(2027, 1, 11)
    start = today + dt.timedelta(weeks=OPENING_HORIZON_WEEKS + 1)
    with commune_context(commune_a):
        Prestation.objects.filter(pk=catalogue.prestation.pk).update(period=Prestation.Period.HOLIDAYS)
        SchoolHoliday.objects.create(name="Printemps", start=start, end=start + dt.timedelta(days=14))
    # when
    step = _steps(commune_a, today=today)["calendar"]
    # then
    assert _summary(step) == (
        "a_faire",
        [
            "« Prestation REPAS » n'ouvre aucun jour d'ici le lundi 5 avril : vérifiez les jours "
            "d'ouverture, la période, les fermetures et les vacances."
        ],
    )


def test_the_regie_step_needs_a_code_and_a_mollie_key_for_prepaid_prestations(commune_a, admin_a):
    # given a prepaid prestation and a régie with its code but no key
    make_catalogue(commune_a, billing_mode=Prestation.BillingMode.PREPAID)
    _regie(commune_a)
    # then
    assert _summary(_steps(commune_a)["regie"]) == (
        "a_faire",
        [
            "La clé Mollie de test (ou le numéro client PayFiP) n'est pas enregistrée : elle est nécessaire car « Prestation REPAS » se "
            "paie à la réservation."
        ],
    )
    # when a key is saved but online payment is off
    _regie(commune_a, mollie_key_encrypted=encrypt_secret(TEST_KEY), mollie_mode="test")
    assert _summary(_steps(commune_a)["regie"]) == (
        "a_faire",
        [
            "Le paiement en ligne n'est pas activé : il est nécessaire car « Prestation REPAS » se paie à la "
            "réservation."
        ],
    )
    # when online payment is on
    _regie(commune_a, online_payment=True)
    step = _steps(commune_a)["regie"]
    assert _summary(step) == ("fait", [])
    assert step.notes == (
        "Le compte de paiement enregistré est en mode test : aucun paiement n'est réel tant que la clé "
        "Mollie « live » (ou le mode Production de PayFiP) n'est pas enregistrée.",
    )


def test_a_payfip_client_number_is_the_regies_payment_account(commune_a, admin_a):
    # given a prepaid prestation and a PayFiP régie with no Mollie key
    make_catalogue(commune_a, billing_mode=Prestation.BillingMode.PREPAID)
    _regie(commune_a, payment_provider="payfip", payfip_numcli="", online_payment=True)
    assert _summary(_steps(commune_a)["regie"])[0] == "a_faire"
    # when its client number is saved, in PayFiP's test mode
    _regie(commune_a, payfip_numcli="123456", payfip_saisie="T")
    step = _steps(commune_a)["regie"]
    # then the step is done, with the test-mode note; in production, no note
    assert _summary(step) == ("fait", [])
    assert step.notes and "mode test" in step.notes[0]
    _regie(commune_a, payfip_saisie="W")
    assert _steps(commune_a)["regie"].notes == ()


def test_the_regie_step_is_done_without_online_payment_for_month_end_prestations(commune_a, admin_a):
    make_catalogue(commune_a)
    _regie(commune_a)
    step = _steps(commune_a)["regie"]
    assert _summary(step) == ("fait", [])
    assert step.notes == ("Paiement en ligne désactivé : les familles paient leurs factures au guichet.",)


def test_saving_the_regie_page_once_completes_its_step(commune_a, admin_a):
    # given a month-end catalogue and a régie nobody has saved yet
    make_catalogue(commune_a)
    with commune_context(commune_a):
        Regie.objects.update(regie_code="RG", saved_at=None)
    assert _steps(commune_a)["regie"].state == "a_faire"
    # when the admin saves the régie settings, even keeping the starting code
    with commune_context(commune_a):
        save_regie(
            regie_id=default_regie_id(),
            name="Régie principale",
            regie_code="RG",
            due_days=30,
            invoicing_day=1,
            online_payment=False,
            actor=admin_a,
        )
    # then the step is done
    assert _steps(commune_a)["regie"].state == "fait"


def test_only_active_family_categories_count(commune_a, admin_a):
    # given a system category and an inactive one
    _category(commune_a, code="changement-adresse", is_system=True)
    _category(commune_a, code="inactive", is_active=False)
    assert _steps(commune_a)["categories"].state == "a_faire"
    # when an active one is added
    _category(commune_a, code="attestation")
    step = _steps(commune_a)["categories"]
    assert (step.state, step.notes) == (
        "fait",
        ("1 catégorie est proposée aux familles : vérifiez qu'elle vous convient.",),
    )


def test_the_staff_step_is_done_once_an_agent_is_invited_or_there(commune_a, admin_a):
    from shared_identity.services import invite_staff

    invite_staff(commune=commune_a, email="agent@jolieville.test", role="agent", actor=admin_a)
    assert _steps(commune_a)["staff"].state == "fait"
    Invitation.objects.all().delete()
    make_staff(commune_a, "agent@jolieville.test")
    assert (_steps(commune_a)["staff"].state, _steps(commune_a)["staff"].notes) == ("fait", ())


def test_a_ready_commune_can_open_and_the_open_step_says_when(commune_a, admin_a):
    commune = _ready(commune_a)
    checklist = get_onboarding_checklist(commune=commune)
    assert checklist.ready and checklist.blocking_steps == ()
    assert _summary(checklist.steps[-1]) == (
        "a_faire",
        ["Tout est prêt : ouvrez l'espace famille quand vous le souhaitez."],
    )
    open_commune(commune=commune, actor=admin_a, now=dt.datetime(2027, 1, 11, 9, 0, tzinfo=dt.UTC))
    commune.refresh_from_db()
    last = get_onboarding_checklist(commune=commune).steps[-1]
    assert (last.state, last.notes) == ("fait", ("Ouverte aux familles le lundi 11 janvier.",))


def test_the_checklist_reads_in_a_fixed_number_of_queries(commune_a, admin_a):
    # given a catalogue of one prestation
    make_catalogue(commune_a)
    _regie(commune_a)
    with CaptureQueriesContext(connection) as one:
        get_onboarding_checklist(commune=commune_a)
    # when there are five more prestations, sites, holidays and closures
    with commune_context(commune_a):
        service = Service.objects.get()
        for index in range(5):
            site = Site.objects.create(name=f"Site {index}")
            site.services.add(service)
            prestation = Prestation.objects.create(
                service=service,
                label=f"P{index}",
                code=f"P{index}",
                weekdays=[index],
                base_price=Decimal("1"),
            )
            prestation.offers.create(site=site)
            SchoolHoliday.objects.create(
                name=f"V{index}", start=dt.date(2030, 1, 1 + index), end=dt.date(2030, 1, 2 + index)
            )
    with CaptureQueriesContext(connection) as six:
        get_onboarding_checklist(commune=commune_a)
    # then: the counts and the régie, the prestations, the holidays, the closures
    queries = [q["sql"] for q in six.captured_queries if not q["sql"].upper().startswith("SET ")]
    assert len(queries) == 4
    assert len(one.captured_queries) == len(six.captured_queries)


# --- The pages: who may see them ------------------------------------------------------------------


def test_the_checklist_page_shows_each_step_to_the_admin(client, commune_a, admin_a):
    # given
    _not_open(commune_a)
    client.force_login(admin_a)
    # when
    response = client.get(commune_path(commune_a, "console/mise-en-service/"))
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "0 étape faite sur 7" in page
    assert "Les mentions légales ne sont pas renseignées." in page
    assert 'href="/c/jolieville/console/identite/"' in page
    assert "Ouvrir aux familles</button>" in page


@pytest.mark.parametrize(
    "path,method",
    [
        ("console/mise-en-service/", "get"),
        ("console/mise-en-service/ouvrir/", "post"),
        ("console/identite/", "get"),
    ],
)
def test_an_agent_gets_403_and_another_communes_admin_404(client, commune_a, commune_b, path, method):
    # given
    _not_open(commune_a)
    agent = make_staff(commune_a, "agent@jolieville.test")
    admin_b = make_staff(commune_b, "admin@demo.test", role=StaffRole.Role.ADMIN)
    # when / then
    client.force_login(agent)
    assert getattr(client, method)(commune_path(commune_a, path)).status_code == 403
    client.force_login(admin_b)
    assert getattr(client, method)(commune_path(commune_a, path)).status_code == 404
    assert Commune.objects.get(pk=commune_a.pk).opened_at is None


def test_opening_is_refused_while_a_required_step_is_missing(client, commune_a, admin_a):
    # given a commune whose identity is done but nothing else
    commune = _identity(_not_open(commune_a))
    client.force_login(admin_a)
    # when
    response = client.post(commune_path(commune, "console/mise-en-service/ouvrir/"))
    # then the page lists the steps to finish, and nothing changed
    page = response.content.decode()
    assert response.status_code == 409
    assert (
        "Commune de JolieVille n&#x27;est pas encore ouverte aux familles : terminez d&#x27;abord ces étapes."
        in page
    )
    assert re.search(
        r'<a href="#etape-catalogue">Services, sites, prestations, tarifs et délais</a> : Aucun service', page
    )
    assert '<a href="#etape-identity">' not in page
    assert Commune.objects.get(pk=commune.pk).opened_at is None


def test_the_service_refuses_to_open_with_the_missing_steps(commune_a, admin_a):
    commune = _identity(_not_open(commune_a))
    make_catalogue(commune)
    with pytest.raises(FoyerError) as refused:
        open_commune(commune=commune, actor=admin_a)
    assert refused.value.code == "onboarding_incomplete"
    assert [(s["key"], s["missing"]) for s in refused.value.extra["steps"]] == [
        (
            "regie",
            [
                "Les réglages de la régie ne sont pas enregistrés : vérifiez son code (il figure dans la "
                "référence de chaque facture), le délai de paiement et le jour de facturation."
            ],
        ),
        ("categories", ["Aucune catégorie de demande n'est proposée aux familles."]),
    ]
    assert Commune.objects.get(pk=commune.pk).opened_at is None


def test_opening_a_ready_commune(client, commune_a, admin_a):
    # given
    commune = _ready(commune_a)
    client.force_login(admin_a)
    # when
    response = client.post(commune_path(commune, "console/mise-en-service/ouvrir/"))
    # then
    assert response.status_code == 302
    assert response["Location"] == "/c/jolieville/console/mise-en-service/"
    opened = Commune.objects.get(pk=commune.pk).opened_at
    assert opened is not None and timezone.now() - opened < dt.timedelta(minutes=1)
    page = client.get(response["Location"]).content.decode()
    assert "Commune de JolieVille est ouverte aux familles" in page
    assert "Ouvrir aux familles</button>" not in page
    # and opening again changes nothing
    client.post(commune_path(commune, "console/mise-en-service/ouvrir/"))
    assert Commune.objects.get(pk=commune.pk).opened_at == opened


def test_a_new_admin_lands_on_the_checklist_after_accepting_the_invitation(
    client, db, django_capture_on_commit_callbacks
):
    # given a commune just provisioned: its admin gets an e-mail
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        provision_commune(name="Ville-Neuve", slug="ville-neuve", admin_email="maire@ville-neuve.fr")
    link = re.search(r"http://testserver(/c/ville-neuve/console/invitation/\S+/)", mail.outbox[0].body).group(
        1
    )
    # when the admin opens the link (the commune is not open) and creates the account
    assert client.get(link).status_code == 200
    response = client.post(
        link,
        {
            "first_name": "Maïa",
            "last_name": "Durand",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        },
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/c/ville-neuve/console/mise-en-service/"
    assert "Mise en service de Ville-Neuve" in client.get(response["Location"]).content.decode()


# --- The console home summary ------------------------------------------------------------------------


def test_the_console_home_shows_the_progress_to_admins_only_while_not_open(client, commune_a, admin_a):
    commune = _identity(_not_open(commune_a))
    client.force_login(admin_a)
    page = client.get(commune_path(commune, "console/")).content.decode()
    assert "Mise en service : 1 étape sur 7" in page
    assert "prochaine étape : Services, sites, prestations, tarifs et délais." in page
    # not for an agent
    client.force_login(make_staff(commune, "agent@jolieville.test"))
    assert "Mise en service :" not in client.get(commune_path(commune, "console/")).content.decode()
    # not once open
    Commune.objects.filter(pk=commune.pk).update(opened_at=timezone.now())
    client.force_login(admin_a)
    assert "Mise en service :" not in client.get(commune_path(commune, "console/")).content.decode()


# --- The gate ------------------------------------------------------------------------------------------


def test_families_find_a_preparing_page_until_the_commune_opens(client, commune_a):
    # given a family with an account, and the commune not open
    membership = make_family(commune_a, email="parent@example.fr")
    _not_open(commune_a)
    client.force_login(membership.family.guardians.get().account)
    # when / then
    for path in ("", "reservations/1/annuler/", "demandes/"):
        response = client.get(commune_path(commune_a, path))
        assert response.status_code == 503, path
        assert "Commune de JolieVille prépare son espace famille" in response.content.decode()
    # and the API says it in its error format
    response = client.get(commune_path(commune_a, "api/panier/articles/"))
    assert response.status_code == 503
    assert response.json()["code"] == "commune_preparing"
    assert response.json()["message"] == "L'espace famille de Commune de JolieVille n'est pas encore ouvert."
    # and an anonymous visitor too
    client.logout()
    assert client.get(commune_path(commune_a)).status_code == 503
    # but the legal mentions, the logo address and the console (own rules) answer
    assert client.get(commune_path(commune_a, "mentions-legales/")).status_code == 200
    assert client.get(commune_path(commune_a, "logo/")).status_code == 404  # no logo yet
    assert client.get(commune_path(commune_a, "console/"))["Location"].startswith("/connexion/")


def test_staff_and_operators_get_in_before_the_opening(client, commune_a):
    _not_open(commune_a)
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    assert client.get(commune_path(commune_a)).status_code == 200
    client.force_login(make_account("ops@foyer.test", is_platform_operator=True))
    assert client.get(commune_path(commune_a)).status_code == 200


def test_activation_links_are_refused_before_the_opening(
    client, commune_a, django_capture_on_commit_callbacks
):
    # given a dossier waiting for activation, in a commune not open
    membership = make_family(commune_a, email="parent@example.fr", active=False)
    _not_open(commune_a)
    client.force_login(make_staff(commune_a, "agent@jolieville.test"))
    mail.outbox.clear()
    # when the agent sends its link, one by one or in bulk
    with django_capture_on_commit_callbacks(execute=True):
        one = client.post(
            commune_path(commune_a, f"console/familles/{membership.pk}/activation/"), follow=True
        )
        bulk = client.post(
            commune_path(commune_a, "console/familles/activation/"),
            {"membership": [membership.pk]},
            follow=True,
        )
    # then both are refused with the reason, and nothing was sent
    message = (
        "Commune de JolieVille n&#x27;est pas encore ouverte aux familles : terminez la mise en service "
        "(« Ouvrir aux familles ») avant d&#x27;envoyer les liens d&#x27;activation."
    )
    assert message in one.content.decode()
    assert message in bulk.content.decode()
    assert Invitation.objects.count() == 0
    assert mail.outbox == []
    assert Membership.objects.get(pk=membership.pk).status == Membership.Status.INVITED


# --- Identity and branding ----------------------------------------------------------------------------


def test_the_admin_sets_the_identity_with_a_logo(client, commune_a, admin_a, media):
    # given
    client.force_login(admin_a)
    png = _image()
    # when
    response = client.post(
        commune_path(commune_a, "console/identite/"),
        {
            "name": "Ville de JolieVille",
            "brand_colour": "#0F766E",
            "contact_email": "Mairie@JolieVille.fr",
            "legal_mentions": "Éditeur : la mairie.\nHébergeur : Foyer.",
            "logo": SimpleUploadedFile("logo.gif", png, content_type="image/gif"),
        },
    )
    # then
    assert response.status_code == 302
    commune = Commune.objects.get(pk=commune_a.pk)
    assert (commune.name, commune.brand_colour, commune.contact_email) == (
        "Ville de JolieVille",
        "#0f766e",
        "mairie@jolieville.fr",
    )
    assert commune.legal_mentions == "Éditeur : la mairie.\nHébergeur : Foyer."
    assert re.fullmatch(r"c_jolieville/branding/logo-[0-9a-f]{16}\.png", commune.logo.name)
    assert (media / commune.logo.name).read_bytes() == png
    # and every page of the commune shows the logo from its versioned address, and the legal mentions link
    page = client.get(commune_path(commune_a)).content.decode()
    assert re.search(r'<img src="/c/jolieville/logo/\?v=[0-9a-f]{12}" alt="" class="logo">', page)
    assert '<a href="/c/jolieville/mentions-legales/">Mentions légales</a>' in page
    legal = client.get(commune_path(commune_a, "mentions-legales/")).content.decode()
    assert "<p>Éditeur : la mairie.<br>Hébergeur : Foyer.</p>" in legal


def test_the_logo_is_served_with_cache_headers(client, commune_a, admin_a, media):
    # given a logo
    update_commune_identity(
        commune=commune_a,
        actor=admin_a,
        name=commune_a.name,
        brand_colour="#1d4ed8",
        logo=SimpleUploadedFile("x", _image("JPEG")),
    )
    commune = Commune.objects.get(pk=commune_a.pk)
    version = re.search(r"\?v=(\w+)", client.get(commune_path(commune)).content.decode()).group(1)
    # when anybody asks for it at its versioned address
    response = client.get(commune_path(commune, f"logo/?v={version}"))
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == (media / commune.logo.name).read_bytes()
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["ETag"] == f'"{version}"'
    # an unversioned address is cached briefly, and a known copy is not sent again
    assert client.get(commune_path(commune, "logo/"))["Cache-Control"] == "public, max-age=300"
    assert client.get(commune_path(commune, "logo/"), HTTP_IF_NONE_MATCH=f'"{version}"').status_code == 304


def test_a_new_logo_replaces_the_old_file_after_the_commit(
    commune_a, admin_a, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = update_commune_identity(
            commune=commune_a,
            actor=admin_a,
            name="JolieVille",
            brand_colour="#1d4ed8",
            logo=SimpleUploadedFile("a.png", _image()),
        )
    with django_capture_on_commit_callbacks(execute=True):
        second = update_commune_identity(
            commune=first,
            actor=admin_a,
            name="JolieVille",
            brand_colour="#1d4ed8",
            logo=SimpleUploadedFile("b.png", _image(size=(60, 30))),
        )
    assert first.logo.name != second.logo.name
    assert not (media / first.logo.name).exists()
    assert (media / second.logo.name).exists()
    # and removing it removes the file
    with django_capture_on_commit_callbacks(execute=True):
        third = update_commune_identity(
            commune=second, actor=admin_a, name="JolieVille", brand_colour="#1d4ed8", remove_logo=True
        )
    assert third.logo.name == "" and not (media / second.logo.name).exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (
            b"GIF89a" + b"\x00" * 40,
            "Le logo doit être une image PNG ou JPEG (le contenu du fichier a été vérifié).",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "Le logo doit être une image PNG ou JPEG (le contenu du fichier a été vérifié).",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            "Cette image est illisible ou abîmée : enregistrez-la à nouveau en PNG ou JPEG.",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * (500 * 1024),
            "Le logo dépasse 500 Ko : enregistrez-le en plus petit (400 pixels de large suffisent).",
        ),
        (_image(size=(2400, 10)), "Le logo mesure au plus 2000 × 2000 pixels (celui-ci : 2400 × 10)."),
        (b"", "Le fichier du logo est vide."),
    ],
)
def test_a_bad_logo_is_refused_and_nothing_changes(commune_a, admin_a, media, content, message):
    # when
    with pytest.raises(FoyerError) as refused:
        update_commune_identity(
            commune=commune_a,
            actor=admin_a,
            name="Autre nom",
            brand_colour="#1d4ed8",
            logo=SimpleUploadedFile("logo.png", content, content_type="image/png"),
        )
    # then
    assert refused.value.field_errors == {"logo": [message]}
    assert Commune.objects.get(pk=commune_a.pk).name == "Commune de JolieVille"
    assert list(media.rglob("*.*")) == []


def test_a_light_colour_is_refused_for_its_contrast_with_white_text(client, commune_a, admin_a, media):
    # given
    client.force_login(admin_a)
    # when the admin picks yellow, with a logo and a typo in the e-mail
    response = client.post(
        commune_path(commune_a, "console/identite/"),
        {
            "name": "JolieVille",
            "brand_colour": "#facc15",
            "contact_email": "mairie@",
            "legal_mentions": "Mentions",
            "logo": SimpleUploadedFile("logo.png", _image()),
        },
    )
    # then every problem is said, what was typed is kept, and nothing changed
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "Cette couleur est trop claire : le texte blanc posé dessus (en-tête, boutons) serait difficile à "
        "lire. Son contraste avec le blanc est de 1,5:1, il faut au moins 4,5:1 : choisissez une couleur "
        "plus foncée."
    ) in page.replace("&#x27;", "'")
    assert "Saisissez une adresse e-mail valide." in page
    assert 'value="#facc15"' in page and ">\nMentions</textarea>" in page
    commune = Commune.objects.get(pk=commune_a.pk)
    assert (commune.name, commune.brand_colour, commune.logo.name) == ("Commune de JolieVille", "#1d4ed8", "")
    assert list(media.rglob("*.*")) == []


def test_contrast_with_white_follows_wcag():
    assert round(contrast_with_white("#000000"), 2) == 21.0
    assert round(contrast_with_white("#ffffff"), 2) == 1.0
    assert round(contrast_with_white("#1d4ed8"), 2) == 6.7
    # #767676 is the lightest grey that passes AA on white
    assert contrast_with_white("#767676") >= 4.5 > contrast_with_white("#777777")


# --- The operator console -----------------------------------------------------------------------------


def test_operators_see_which_communes_are_still_preparing(client, commune_a, commune_b):
    _not_open(commune_a)
    login_verified(client, make_operator("ops@foyer.test"))
    page = client.get("/operateur/").content.decode()
    rows = {
        name: row
        for name, row in re.findall(r'>([^<]+)</a>\s*<span class="meta">.*?</th>(.*?)</tr>', page, re.S)
    }
    assert (
        "En préparation" in rows["Commune de JolieVille"] and "Ouverte" not in rows["Commune de JolieVille"]
    )
    assert "Ouverte" in rows["Collectivité Démo"]
    detail = client.get(f"/operateur/communes/{commune_a.pk}/").content.decode()
    assert "En préparation" in detail


def test_the_demo_opens_its_communes_with_legal_mentions(commune_a):
    from operators.demo import seed_demo

    # given JolieVille not open yet (as a fresh `make demo` provisions it)
    _not_open(commune_a)
    # when
    seed_demo()
    # then it is open, and its identity step is done
    commune = Commune.objects.get(pk=commune_a.pk)
    assert commune.is_open
    assert commune.legal_mentions.startswith("Éditeur : Commune de JolieVille")
    assert _steps(commune)["identity"].state == "fait"
    # and seeding again keeps the opening date
    opened = commune.opened_at
    seed_demo()
    assert Commune.objects.get(pk=commune_a.pk).opened_at == opened


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("Commune de JolieVille", "commune", "la commune de JolieVille"),
        ("Collectivité Démo", "commune", "la collectivité Démo"),
        ("Ville de Lyon", "commune", "la ville de Lyon"),
        ("Syndicat des écoles du Val", "syndicat", "le syndicat des écoles du Val"),
        ("Annecy", "commune", "la commune d'Annecy"),
        ("Grenoble", "commune", "la commune de Grenoble"),
        ("Les Deux Rives", "intercommunalite", "les Deux Rives"),
        ("Grésivaudan", "intercommunalite", "la collectivité Grésivaudan"),
    ],
)
def test_a_commune_is_named_in_a_sentence_with_its_article(name, kind, expected):
    from tenants.models import sentence_name_for

    assert sentence_name_for(name, kind) == expected


def test_the_admin_sets_how_a_sentence_names_the_commune_and_the_emails_use_it(
    client, commune_a, admin_a, django_capture_on_commit_callbacks
):
    # given the admin's own wording
    client.force_login(admin_a)
    response = client.post(
        commune_path(commune_a, "console/identite/"),
        {
            "name": "Mairie de JolieVille",
            "sentence_name": "  la  mairie de JolieVille ",
            "brand_colour": "#1d4ed8",
        },
    )
    assert response.status_code == 302
    commune = Commune.objects.get(pk=commune_a.pk)
    assert (commune.sentence_name, commune.in_sentence) == (
        "la mairie de JolieVille",
        "la mairie de JolieVille",
    )
    # when a family is invited
    membership = make_family(commune, email="parent@example.fr", active=False)
    with django_capture_on_commit_callbacks(execute=True):
        send_family_invitation(membership=membership, actor=admin_a)
    # then the e-mail names the commune as the admin wrote it, capitalised at the sentence start
    body = mail.outbox[-1].body
    assert "La mairie de JolieVille a activé votre espace famille sur Foyer." in body
    assert "L'équipe de la mairie de JolieVille" in body
    # and an empty wording falls back to the name's
    assert (
        client.post(
            commune_path(commune_a, "console/identite/"),
            {"name": "Ville de JolieVille", "brand_colour": "#1d4ed8"},
        ).status_code
        == 302
    )
    assert Commune.objects.get(pk=commune_a.pk).in_sentence == "la ville de JolieVille"
