import html
import re

from django.core import mail
from django.http import HttpRequest

from shared_identity.models import Account, Family, Membership, StaffRole
from tests.conftest import PASSWORD, commune_path, make_family, make_staff


def test_agent_of_a_gets_404_on_commune_bs_dossier(client, commune_a, commune_b, agent_a):
    dossier_b = make_family(commune_b, email="b@example.fr")
    client.force_login(agent_a)
    # neither through commune B's console, nor by guessing the id in commune A's
    assert client.get(commune_path(commune_b, f"console/familles/{dossier_b.pk}/")).status_code == 404
    assert client.get(commune_path(commune_a, f"console/familles/{dossier_b.pk}/")).status_code == 404
    assert (
        client.post(commune_path(commune_a, f"console/familles/{dossier_b.pk}/activation/")).status_code
        == 404
    )
    assert client.get(commune_path(commune_b, "console/familles/")).status_code == 404


def test_agent_sees_only_their_communes_families(client, commune_a, commune_b, agent_a):
    make_family(commune_a, email="a@example.fr", name="Alpha")
    make_family(commune_b, email="b@example.fr", name="Bravo", dossier="F00002")
    client.force_login(agent_a)
    page = client.get(commune_path(commune_a, "console/familles/")).content.decode()
    assert "Alpha" in page and "Bravo" not in page


def test_family_list_search(client, commune_a, agent_a, django_assert_max_num_queries):
    for index in range(5):
        make_family(commune_a, email=f"f{index}@example.fr", name=f"Famille{index}", dossier=f"F0000{index}")
    client.force_login(agent_a)
    # the list costs a fixed number of queries, whatever the number of families
    with django_assert_max_num_queries(8):
        page = client.get(commune_path(commune_a, "console/familles/"), {"q": "famille3"}).content.decode()
    assert "Famille3" in page and "Famille2" not in page


def test_family_account_reaches_no_console_page(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(family.family.guardians.get().account)
    assert client.get(commune_path(commune_a, "console/")).status_code == 404
    assert client.get(commune_path(commune_a, f"console/familles/{family.pk}/")).status_code == 404


def test_anonymous_is_sent_to_login(client, commune_a):
    response = client.get(commune_path(commune_a, "console/"))
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/?next=/c/jolieville/console/")


def test_dossier_with_bad_input_is_refused_and_nothing_is_created(client, commune_a, agent_a):
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, "console/familles/nouvelle/"),
        {
            "family_name": "Martin",
            "guardian_first_name": "Camille",
            "guardian_last_name": "Martin",
            "guardian_email": "pas-un-email",
            "children-TOTAL_FORMS": "1",
            "children-INITIAL_FORMS": "0",
            "children-MIN_NUM_FORMS": "0",
            "children-MAX_NUM_FORMS": "10",
            "children-0-first_name": "Léa",
            "children-0-last_name": "Martin",
            "children-0-birth_date": "2099-01-01",
        },
    )
    assert response.status_code == 200
    assert "Saisissez une adresse e-mail valide" in html.unescape(response.content.decode())
    assert not Family.objects.exists()


def test_implausible_birth_date_is_refused(client, commune_a, agent_a):
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, "console/familles/nouvelle/"),
        {
            "family_name": "Martin",
            "guardian_first_name": "Camille",
            "guardian_last_name": "Martin",
            "guardian_email": "p@example.fr",
            "children-TOTAL_FORMS": "1",
            "children-INITIAL_FORMS": "0",
            "children-MIN_NUM_FORMS": "0",
            "children-MAX_NUM_FORMS": "10",
            "children-0-first_name": "Léa",
            "children-0-last_name": "Martin",
            "children-0-birth_date": "2099-01-01",
        },
    )
    assert "pas plausible" in html.unescape(response.content.decode())
    assert not Family.objects.exists()


def test_same_email_twice_in_one_commune_is_refused(client, commune_a, agent_a):
    make_family(commune_a, email="p@example.fr")
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, "console/familles/nouvelle/"),
        {
            "family_name": "Martin",
            "guardian_first_name": "C",
            "guardian_last_name": "M",
            "guardian_email": "P@example.fr",
            "children-TOTAL_FORMS": "0",
            "children-INITIAL_FORMS": "0",
            "children-MIN_NUM_FORMS": "0",
            "children-MAX_NUM_FORMS": "10",
        },
    )
    assert "déjà le dossier n° F00001" in html.unescape(response.content.decode())
    assert Membership.objects.count() == 1


def test_dossier_numbers_are_given_in_order(client, commune_a, agent_a):
    client.force_login(agent_a)
    for index in range(2):
        client.post(
            commune_path(commune_a, "console/familles/nouvelle/"),
            {
                "family_name": f"F{index}",
                "guardian_first_name": "C",
                "guardian_last_name": "M",
                "guardian_email": f"p{index}@example.fr",
                "children-TOTAL_FORMS": "0",
                "children-INITIAL_FORMS": "0",
                "children-MIN_NUM_FORMS": "0",
                "children-MAX_NUM_FORMS": "10",
            },
        )
    assert sorted(Membership.objects.values_list("dossier_number", flat=True)) == ["F00001", "F00002"]


def test_agent_cannot_invite_staff_but_admin_can(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    client.force_login(agent_a)
    response = client.post(
        commune_path(commune_a, "console/equipe/"), {"email": "new@jolieville.test", "role": "agent"}
    )
    assert response.status_code == 403
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, "console/equipe/"), {"email": "new@jolieville.test", "role": "agent"}
        )
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["new@jolieville.test"]


def test_staff_invitation_creates_an_account_with_the_role(
    client, commune_a, django_capture_on_commit_callbacks
):
    from shared_identity.services import invite_staff

    with django_capture_on_commit_callbacks(execute=True):
        invite_staff(commune=commune_a, email="nouvel.agent@jolieville.test", role="agent", actor=None)
    link = re.search(r"http://testserver(/c/\S+)", mail.outbox[-1].body).group(1)
    password = "Registre-des-presences-2026"
    response = client.post(
        link,
        {"first_name": "Nina", "last_name": "Roux", "password": password, "password_confirmation": password},
    )
    assert response.status_code == 302
    account = Account.objects.get(email="nouvel.agent@jolieville.test")
    assert StaffRole.objects.get(account=account).commune == commune_a
    assert client.get(commune_path(commune_a, "console/")).status_code == 200


def test_password_reset_by_email(client, commune_a, django_capture_on_commit_callbacks):
    make_family(commune_a, email="parent@example.fr")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/mot-de-passe/oubli/", {"email": "parent@example.fr"})
    link = re.search(r"http://testserver(/mot-de-passe/\S+)", mail.outbox[-1].body).group(1)
    form_url = client.get(link)["Location"]
    new = "Nouveau-mot-de-passe-2026"
    response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert client.login(request=HttpRequest(), username="parent@example.fr", password=new)
    assert not client.login(request=HttpRequest(), username="parent@example.fr", password=PASSWORD)


def test_password_change(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(family.family.guardians.get().account)
    new = "Encore-un-mot-de-passe-2026"
    response = client.post(
        "/mot-de-passe/changer/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert Account.objects.get(email="parent@example.fr").check_password(new)


def test_dossier_numbers_keep_counting_past_five_digits(db, commune_a, agent_a):
    from shared_identity.services import create_family_dossier

    make_family(commune_a, email="old@example.fr", dossier="F99999")
    membership = create_family_dossier(
        commune=commune_a,
        actor=agent_a,
        family_name="Neuf",
        guardian_first_name="A",
        guardian_last_name="B",
        guardian_email="neuf@example.fr",
        children=[],
    )
    assert membership.dossier_number == "F100000"


def test_admin_sets_the_payment_hold_and_bad_values_change_nothing(client, commune_a, agent_a):
    admin = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    client.force_login(agent_a)
    assert (
        client.post(commune_path(commune_a, "console/reglages/"), {"booking_hold_minutes": 60}).status_code
        == 403
    )
    client.force_login(admin)
    page = client.post(
        commune_path(commune_a, "console/reglages/"), {"booking_hold_minutes": 2}
    ).content.decode()
    assert "Entre 5 minutes et 24 heures." in page
    commune_a.refresh_from_db()
    assert commune_a.booking_hold_minutes == 30
    assert (
        client.post(commune_path(commune_a, "console/reglages/"), {"booking_hold_minutes": 60}).status_code
        == 302
    )
    commune_a.refresh_from_db()
    assert commune_a.booking_hold_minutes == 60
