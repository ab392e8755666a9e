"""The commune's catalogue in the console: services, sites, prestations, calendar."""

import datetime as dt
import html
from decimal import Decimal

import pytest

from reservations.deadlines import DeadlineRule
from reservations.models import Closure, Prestation, PrestationSite, SchoolHoliday, Service, Site
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tests.conftest import commune_path, make_staff


@pytest.fixture
def admin_a(commune_a):
    return make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def prestation_data(service: Service, site: Site, **changes) -> dict:
    """What the prestation form posts: a goûter with two quotient-familial brackets."""
    data = {
        "service": service.pk,
        "label": "Goûter",
        "code": "gouter",
        "colour": "#16a34a",
        "billing_mode": "month_end",
        "is_active": "on",
        "weekdays": ["0", "1", "3", "4"],
        "period": "school",
        "start_time": "16:30",
        "booking_rule_kind": "days_before",
        "booking_rule_days": "2",
        "booking_rule_working_days": "on",
        "booking_rule_cutoff": "10:00",
        "booking_rule_hours": "12",  # left over from another kind: not used by J-n
        "cancellation_rule_kind": "hours_before",
        "cancellation_rule_hours": "72",
        "base_price": "4,05",
        "late_price": "5,20",
        "unbooked_presence_price": "",
        "sites": [str(site.pk)],
        f"capacity_{site.pk}": "80",
        "brackets-TOTAL_FORMS": "3",
        "brackets-INITIAL_FORMS": "0",
        "brackets-MIN_NUM_FORMS": "0",
        "brackets-MAX_NUM_FORMS": "1000",
        "brackets-0-qf_min": "0",
        "brackets-0-qf_max": "600",
        "brackets-0-price": "1,00",
        "brackets-1-qf_min": "601",
        "brackets-1-qf_max": "",
        "brackets-1-price": "3.10",
    }
    data.update(changes)
    return data


PRESTATIONS = "console/catalogue/prestations/"


# --- Services and sites ----------------------------------------------------------------------------


def test_admin_creates_then_edits_a_service(client, commune_a, admin_a):
    # given
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/catalogue/services/nouveau/"),
        {
            "name": "Périscolaire",
            "description": "Matin et soir",
            "is_active": "on",
            "late_cancellation": "no_credit",
        },
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/c/jolieville/console/catalogue/services/"
    with commune_context(commune_a):
        service = Service.objects.get()
        assert (service.name, service.description, service.is_active, service.late_cancellation) == (
            "Périscolaire",
            "Matin et soir",
            True,
            "no_credit",
        )
    # when
    client.post(
        commune_path(commune_a, f"console/catalogue/services/{service.pk}/"),
        {"name": "Accueil périscolaire", "description": "", "late_cancellation": "certificate"},
    )
    # then
    with commune_context(commune_a):
        service.refresh_from_db()
        assert (service.name, service.is_active, service.late_cancellation) == (
            "Accueil périscolaire",
            False,
            "certificate",
        )
    assert "Accueil périscolaire" in page_text(
        client.get(commune_path(commune_a, "console/catalogue/services/"))
    )


def test_a_second_service_with_the_same_name_is_refused(client, commune_a, admin_a):
    # given
    with commune_context(commune_a):
        Service.objects.create(name="Cantine")
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/catalogue/services/nouveau/"),
        {"name": "cantine", "description": "Le midi", "late_cancellation": "agent"},
    )
    # then
    assert response.status_code == 200
    page = page_text(response)
    assert "Un autre service porte déjà ce nom." in page
    assert 'value="cantine"' in page and "Le midi" in page
    with commune_context(commune_a):
        assert list(Service.objects.values_list("name", flat=True)) == ["Cantine"]


def test_admin_creates_a_site_hosting_services(client, commune_a, admin_a):
    # given
    with commune_context(commune_a):
        canteen = Service.objects.create(name="Cantine")
        Service.objects.create(name="Périscolaire")
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/catalogue/sites/nouveau/"),
        {"name": "École Jaurès", "address": "1 rue Jaurès", "services": [str(canteen.pk)]},
    )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        site = Site.objects.get()
        assert (site.name, site.address, list(site.services.all())) == (
            "École Jaurès",
            "1 rue Jaurès",
            [canteen],
        )
    page = page_text(client.get(commune_path(commune_a, "console/catalogue/sites/")))
    assert "École Jaurès" in page and "1 rue Jaurès" in page


def test_a_site_keeps_a_service_whose_prestation_it_offers(client, commune_a, admin_a, canteen_a):
    # given: the canteen's prestation is offered at its school
    client.force_login(admin_a)
    # when: the service is unticked
    response = client.post(
        commune_path(commune_a, f"console/catalogue/sites/{canteen_a.site.pk}/"),
        {"name": canteen_a.site.name, "address": "", "services": []},
    )
    # then
    assert response.status_code == 200
    assert (
        "Le service « Service REPAS » ne peut pas être retiré : la prestation « Prestation REPAS » "
        "est proposée sur ce site." in page_text(response)
    )
    with commune_context(commune_a):
        assert list(canteen_a.site.services.all()) == [canteen_a.service]


# --- Prestations -----------------------------------------------------------------------------------


def test_admin_creates_a_prestation_with_rules_prices_sites_and_brackets(
    client, commune_a, admin_a, canteen_a
):
    # given
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, f"{PRESTATIONS}nouvelle/"), prestation_data(canteen_a.service, canteen_a.site)
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/c/jolieville/console/catalogue/prestations/"
    with commune_context(commune_a):
        goûter = Prestation.objects.get(code="GOUTER")
        assert goûter.service == canteen_a.service
        assert (goûter.label, goûter.colour, goûter.billing_mode, goûter.is_active) == (
            "Goûter",
            "#16a34a",
            "month_end",
            True,
        )
        assert (goûter.weekdays, goûter.period, goûter.start_time) == (
            [0, 1, 3, 4],
            "school",
            dt.time(16, 30),
        )
        assert goûter.booking_rule == {
            "kind": "days_before",
            "days": 2,
            "working_days": True,
            "alsace_moselle": False,
            "cutoff": "10:00",
        }
        assert goûter.cancellation_rule == {"kind": "hours_before", "hours": 72}
        assert (goûter.base_price, goûter.late_price, goûter.unbooked_presence_price) == (
            Decimal("4.05"),
            Decimal("5.20"),
            None,
        )
        assert list(PrestationSite.objects.filter(prestation=goûter).values_list("site_id", "capacity")) == [
            (canteen_a.site.pk, 80)
        ]
        assert list(goûter.brackets.values_list("qf_min", "qf_max", "price")) == [
            (0, 600, Decimal("1.00")),
            (601, None, Decimal("3.10")),
        ]


def test_prestation_list_says_each_rule_and_price_in_french(client, commune_a, admin_a, canteen_a):
    # given
    client.force_login(admin_a)
    client.post(
        commune_path(commune_a, f"{PRESTATIONS}nouvelle/"), prestation_data(canteen_a.service, canteen_a.site)
    )
    # when
    page = page_text(client.get(commune_path(commune_a, PRESTATIONS)))
    # then
    assert "J-2 avant 10h00, jours ouvrés" in page
    assert "72 heures avant" in page
    assert "4,05\u00a0€" in page and "5,20\u00a0€" in page
    assert "QF 0 à 600\u00a0: 1,00\u00a0€\u00a0; QF 601 et plus\u00a0: 3,10\u00a0€" in page
    assert "École REPAS (80 places par jour)" in page
    assert "lundi, mardi, jeudi, vendredi" in page


def test_prestation_list_costs_the_same_queries_for_many_prestations(
    client, commune_a, admin_a, canteen_a, django_assert_max_num_queries
):
    # given
    client.force_login(admin_a)
    for code in ("GOUTER1", "GOUTER2", "GOUTER3"):
        client.post(
            commune_path(commune_a, f"{PRESTATIONS}nouvelle/"),
            prestation_data(canteen_a.service, canteen_a.site, code=code),
        )
    # when / then: commune, session, account, staff role (and 2 SET search_path), then the
    # prestations, their sites and their brackets
    with django_assert_max_num_queries(9):
        assert client.get(commune_path(commune_a, PRESTATIONS)).status_code == 200


def test_admin_edits_a_prestation_brackets_and_sites(client, commune_a, admin_a, canteen_a):
    # given
    client.force_login(admin_a)
    client.post(
        commune_path(commune_a, f"{PRESTATIONS}nouvelle/"), prestation_data(canteen_a.service, canteen_a.site)
    )
    with commune_context(commune_a):
        goûter = Prestation.objects.get(code="GOUTER")
    edit = commune_path(commune_a, f"{PRESTATIONS}{goûter.pk}/")
    form = page_text(client.get(edit))
    assert 'value="4,05"' in form and 'value="10:00"' in form and 'value="80"' in form
    # when: one bracket left, no site, no late booking
    response = client.post(
        edit,
        prestation_data(
            canteen_a.service,
            canteen_a.site,
            sites=[],
            late_price="",
            **{"brackets-1-qf_min": "", "brackets-1-price": ""},
        ),
    )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        goûter.refresh_from_db()
        assert goûter.late_price is None
        assert not PrestationSite.objects.filter(prestation=goûter).exists()
        assert list(goûter.brackets.values_list("qf_min", "qf_max", "price")) == [(0, 600, Decimal("1.00"))]


def test_a_rule_per_weekday_is_kept_when_the_prestation_is_edited(client, commune_a, admin_a, canteen_a):
    # given: a rule the form cannot write ("le vendredi précédent" for Monday, J-1 otherwise)
    rule = DeadlineRule.per_weekday(
        {0: DeadlineRule.weekday_before(4, at=dt.time(9, 0))}, default=DeadlineRule.days_before(1)
    ).to_dict()
    with commune_context(commune_a):
        Prestation.objects.filter(pk=canteen_a.prestation.pk).update(booking_rule=rule)
    client.force_login(admin_a)
    edit = commune_path(commune_a, f"{PRESTATIONS}{canteen_a.prestation.pk}/")
    # when
    form = page_text(client.get(edit))
    response = client.post(
        edit,
        prestation_data(canteen_a.service, canteen_a.site, code="REPAS", booking_rule_kind="per_weekday"),
    )
    # then
    assert (
        "Par jour de la semaine : lundi : le vendredi précédent à 09h00; autres jours : J-1 avant 23h59"
        in form
    )
    assert response.status_code == 302
    with commune_context(commune_a):
        assert Prestation.objects.get(pk=canteen_a.prestation.pk).booking_rule == rule


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"booking_rule_days": "90"},
            "Délai de réservation : un nombre entier de jours entre 0 et 60 est attendu.",
        ),
        (
            {"cancellation_rule_kind": "day_of_previous_month", "cancellation_rule_day_of_month": "31"},
            "Délai d'annulation : un jour du mois entre 1 et 28 est attendu",
        ),
        (
            {"booking_rule_cutoff": "25:00"},
            "Délai de réservation : une heure au format HH:MM est attendue, par exemple 09:30.",
        ),
        (
            {"brackets-1-qf_min": "500"},
            "Les tranches « QF 0 à 600 » et « QF 500 et plus » se chevauchent",
        ),
        ({"brackets-2-qf_min": "2000"}, "Ce champ est obligatoire pour une tranche."),
        ({"base_price": "-1,00"}, "Un prix ne peut pas être négatif."),
        ({"brackets-0-price": "-0,50"}, "QF 0 à 600 : un prix ne peut pas être négatif."),
        ({"code": "REPAS"}, "Ce code est déjà celui d'une autre prestation."),
        ({"code": "goûter!"}, "Majuscules, chiffres et _ seulement."),
        ({"weekdays": []}, "Cochez au moins un jour d'ouverture."),
        ({"colour": "vert"}, "La couleur s'écrit #RRGGBB."),
        # a kind without a field it needs: refused, never a default weekday or time
        (
            {"cancellation_rule_kind": "weekday_previous_week", "cancellation_rule_cutoff": "18:00"},
            "Délai d'annulation : ce champ est obligatoire pour ce type de délai.",
        ),
        (
            {"booking_rule_cutoff": ""},
            "Délai de réservation : ce champ est obligatoire pour ce type de délai.",
        ),
        ({"booking_rule_days": ""}, "Délai de réservation : ce champ est obligatoire pour ce type de délai."),
        (
            {"booking_rule_kind": "weekday_before", "booking_rule_weekday": ""},
            "Délai de réservation : ce champ est obligatoire pour ce type de délai.",
        ),
        (
            {"cancellation_rule_kind": "day_of_previous_month", "cancellation_rule_cutoff": "12:00"},
            "Délai d'annulation : ce champ est obligatoire pour ce type de délai.",
        ),
        (
            {"cancellation_rule_hours": ""},
            "Délai d'annulation : ce champ est obligatoire pour ce type de délai.",
        ),
    ],
)
def test_a_wrong_prestation_is_refused_and_nothing_is_saved(
    client, commune_a, admin_a, canteen_a, changes, message
):
    # given
    client.force_login(admin_a)
    data = prestation_data(canteen_a.service, canteen_a.site, **changes)
    # when
    response = client.post(commune_path(commune_a, f"{PRESTATIONS}nouvelle/"), data)
    # then: the message, and the form keeps what was typed
    assert response.status_code == 200
    page = page_text(response)
    assert message in page
    assert 'value="Goûter"' in page and f'value="{data["base_price"]}"' in page
    with commune_context(commune_a):
        assert list(Prestation.objects.values_list("code", flat=True)) == ["REPAS"]


def test_a_rule_without_its_weekday_is_refused_beside_the_field(client, commune_a, admin_a, canteen_a):
    # given a prestation whose cancelling rule is "the Thursday of the week before, 18:00"
    client.force_login(admin_a)
    edit = commune_path(commune_a, f"{PRESTATIONS}{canteen_a.prestation.pk}/")
    with commune_context(commune_a):
        before = Prestation.objects.get(pk=canteen_a.prestation.pk).cancellation_rule
    # when the admin picks "jour de la semaine précédente" and leaves the weekday empty
    data = prestation_data(
        canteen_a.service,
        canteen_a.site,
        code="REPAS",
        cancellation_rule_kind="weekday_previous_week",
        cancellation_rule_weekday="",
        cancellation_rule_cutoff="18:00",
    )
    response = client.post(edit, data)
    # then the form is shown again with the error beside the weekday, and nothing is saved
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["cancellation_rule_weekday"] == [
        "Délai d'annulation : ce champ est obligatoire pour ce type de délai."
    ]
    with commune_context(commune_a):
        assert Prestation.objects.get(pk=canteen_a.prestation.pk).cancellation_rule == before


def test_a_prestation_cannot_be_offered_at_a_site_without_its_service(client, commune_a, admin_a, canteen_a):
    # given
    with commune_context(commune_a):
        other_site = Site.objects.create(name="Centre de loisirs")
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, f"{PRESTATIONS}nouvelle/"),
        prestation_data(canteen_a.service, other_site),
    )
    # then
    assert (
        "Le site « Centre de loisirs » n'accueille pas le service « Service REPAS » : ajoutez-le au site d'abord."
        in page_text(response)
    )
    with commune_context(commune_a):
        assert not Prestation.objects.filter(code="GOUTER").exists()


# --- Calendar --------------------------------------------------------------------------------------

CALENDAR = "console/catalogue/calendrier/"


def test_admin_adds_and_deletes_closures(client, commune_a, admin_a, canteen_a):
    # given
    client.force_login(admin_a)
    # when
    everywhere = client.post(
        commune_path(commune_a, f"{CALENDAR}fermetures/"),
        {"fermeture-date": "2027-01-15", "fermeture-site": "", "fermeture-reason": "Pont"},
    )
    one_site = client.post(
        commune_path(commune_a, f"{CALENDAR}fermetures/"),
        {"fermeture-date": "2027-01-18", "fermeture-site": canteen_a.site.pk, "fermeture-reason": "Travaux"},
    )
    # then
    assert everywhere.status_code == one_site.status_code == 302
    with commune_context(commune_a):
        assert list(Closure.objects.order_by("date").values_list("date", "site_id", "reason")) == [
            (dt.date(2027, 1, 15), None, "Pont"),
            (dt.date(2027, 1, 18), canteen_a.site.pk, "Travaux"),
        ]
        bridge = Closure.objects.get(reason="Pont")
    page = page_text(client.get(commune_path(commune_a, CALENDAR)))
    assert "vendredi 15 janvier 2027" in page and "Tous les sites" in page and "Travaux" in page
    # when
    response = client.post(commune_path(commune_a, f"{CALENDAR}fermetures/{bridge.pk}/suppression/"))
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        assert list(Closure.objects.values_list("reason", flat=True)) == ["Travaux"]


def test_the_same_closure_twice_is_refused(client, commune_a, admin_a):
    # given
    with commune_context(commune_a):
        Closure.objects.create(date=dt.date(2027, 1, 15), reason="Pont")
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, f"{CALENDAR}fermetures/"),
        {"fermeture-date": "2027-01-15", "fermeture-site": "", "fermeture-reason": "Grève"},
    )
    # then
    assert response.status_code == 200
    assert "Une fermeture est déjà enregistrée ce jour-là pour ce site." in page_text(response)
    with commune_context(commune_a):
        assert list(Closure.objects.values_list("reason", flat=True)) == ["Pont"]


def test_admin_adds_and_deletes_school_holidays(client, commune_a, admin_a):
    # given
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, f"{CALENDAR}vacances/"),
        {"vacances-name": "Vacances d'hiver", "vacances-start": "2027-02-13", "vacances-end": "2027-03-01"},
    )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        holiday = SchoolHoliday.objects.get()
        assert (holiday.name, holiday.start, holiday.end) == (
            "Vacances d'hiver",
            dt.date(2027, 2, 13),
            dt.date(2027, 3, 1),
        )
    # when
    client.post(commune_path(commune_a, f"{CALENDAR}vacances/{holiday.pk}/suppression/"))
    # then
    with commune_context(commune_a):
        assert not SchoolHoliday.objects.exists()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2027-03-01", "2027-02-13", "Le dernier jour précède le premier."),
        ("2027-02-20", "2027-03-05", "Cette période chevauche « Hiver » (du 13/02/2027 au 01/03/2027)."),
    ],
)
def test_a_wrong_school_holiday_is_refused(client, commune_a, admin_a, start, end, message):
    # given
    with commune_context(commune_a):
        SchoolHoliday.objects.create(name="Hiver", start=dt.date(2027, 2, 13), end=dt.date(2027, 3, 1))
    client.force_login(admin_a)
    # when
    response = client.post(
        commune_path(commune_a, f"{CALENDAR}vacances/"),
        {"vacances-name": "Autres", "vacances-start": start, "vacances-end": end},
    )
    # then
    assert message in page_text(response)
    with commune_context(commune_a):
        assert list(SchoolHoliday.objects.values_list("name", flat=True)) == ["Hiver"]


# --- Who may --------------------------------------------------------------------------------------


def test_agents_get_403_on_the_catalogue_and_change_nothing(client, commune_a, agent_a, canteen_a):
    # given
    client.force_login(agent_a)
    pages = [
        "console/catalogue/services/",
        "console/catalogue/sites/",
        PRESTATIONS,
        f"{PRESTATIONS}{canteen_a.prestation.pk}/",
        CALENDAR,
    ]
    writes = {
        "console/catalogue/services/nouveau/": {"name": "X", "late_cancellation": "agent"},
        "console/catalogue/sites/nouveau/": {"name": "X"},
        f"{PRESTATIONS}nouvelle/": prestation_data(canteen_a.service, canteen_a.site),
        f"{CALENDAR}fermetures/": {"fermeture-date": "2027-01-15", "fermeture-reason": "Pont"},
        f"{CALENDAR}vacances/": {
            "vacances-name": "X",
            "vacances-start": "2027-02-13",
            "vacances-end": "2027-03-01",
        },
    }
    # when / then
    for path in pages:
        assert client.get(commune_path(commune_a, path)).status_code == 403, path
    for path, data in writes.items():
        assert client.post(commune_path(commune_a, path), data).status_code == 403, path
    with commune_context(commune_a):
        assert (Service.objects.count(), Site.objects.count(), Prestation.objects.count()) == (1, 1, 1)
        assert not Closure.objects.exists() and not SchoolHoliday.objects.exists()
