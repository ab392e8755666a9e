"""The console's daily work: enrolments and quotient familial on the family dossier, the
pointage, mass cancellation and the cancellation requests queue."""

import datetime as dt
import html
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.base import ContentFile

from foyer.errors import FoyerError
from reservations.models import (
    Booking,
    BookingCredit,
    CancellationRequest,
    Closure,
    Enrolment,
    Prestation,
    QuotientFamilial,
    Service,
    Site,
)
from reservations.services import mark_attendance
from shared_identity.models import Child
from tenants.context import commune_context
from tests.conftest import commune_path, make_family
from tests.reservations.conftest import MONDAY, at, enrol, make_catalogue

PDF = b"%PDF-1.4 certificat medical"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def book(catalogue, child: Child, *, day: dt.date = MONDAY, status: str = "confirmed", price: str = "4.05"):
    with commune_context(catalogue.commune):
        return Booking.objects.create(
            child=child,
            family_id=child.family_id,
            prestation=catalogue.prestation,
            site=catalogue.site,
            date=day,
            status=status,
            price=Decimal(price),
        )


def ask_cancellation(booking: Booking, commune, *, attachment: bool = True) -> CancellationRequest:
    guardian = booking.family.guardians.get()
    with commune_context(commune):
        return CancellationRequest.objects.create(
            booking=booking,
            family_id=booking.family_id,
            account=guardian.account,
            reason="Enfant malade",
            attachment=ContentFile(PDF, name="certificat.pdf") if attachment else "",
        )


def second_family(commune, catalogue, *, name: str = "Durand"):
    membership = make_family(commune, email=f"{name.lower()}@example.fr", name=name, dossier=f"D-{name}")
    child = membership.family.children.get()
    enrol(catalogue, child)
    return child


@pytest.fixture
def child_a(family_a) -> Child:
    return family_a.family.children.get()


def attendance_url(commune, catalogue, day: dt.date = MONDAY, rest: str = "") -> str:
    return commune_path(
        commune,
        f"console/pointage/?jour={day:%Y-%m-%d}&site={catalogue.site.pk}&prestation={catalogue.prestation.pk}{rest}",
    )


def mark(client, commune, catalogue, child: Child, status: str, day: dt.date = MONDAY):
    return client.post(
        commune_path(commune, "console/pointage/marquer/"),
        {
            "jour": f"{day:%Y-%m-%d}",
            "site": catalogue.site.pk,
            "prestation": catalogue.prestation.pk,
            "enfant": child.pk,
            "statut": status,
        },
    )


def enrolment_data(membership, catalogue, **changes) -> dict:
    data = {
        "inscription-child": membership.family.children.get().pk,
        "inscription-service": catalogue.service.pk,
        "inscription-site": catalogue.site.pk,
        "inscription-start": "2026-09-01",
        "inscription-end": "2027-07-04",
    }
    data.update(changes)
    return data


# --- Enrolments and quotient familial on the dossier ------------------------------------------------


def test_agent_enrols_a_child_from_the_family_dossier(client, commune_a, agent_a, canteen_a):
    # given
    membership = make_family(commune_a, email="parent@example.fr")
    child = membership.family.children.get()
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/inscriptions/nouvelle/"),
        enrolment_data(membership, canteen_a),
    )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        assert list(
            Enrolment.objects.values_list("child_id", "family_id", "service_id", "site_id", "start", "end")
        ) == [
            (
                child.pk,
                membership.family_id,
                canteen_a.service.pk,
                canteen_a.site.pk,
                dt.date(2026, 9, 1),
                dt.date(2027, 7, 4),
            )
        ]
    page = page_text(client.get(response["Location"]))
    assert "Léa Martin" in page and "Service REPAS" in page and "du 01/09/2026 au 04/07/2027" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"inscription-end": "2026-08-31"}, "Date de fin avant la date de début."),
        ("other_site", "Choisissez un site de ce service."),
    ],
)
def test_a_wrong_enrolment_is_refused(client, commune_a, agent_a, canteen_a, changes, message):
    # given
    membership = make_family(commune_a, email="parent@example.fr")
    if changes == "other_site":
        with commune_context(commune_a):
            changes = {"inscription-site": Site.objects.create(name="Centre de loisirs").pk}
    data = enrolment_data(membership, canteen_a, **changes)
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/inscriptions/nouvelle/"), data
    )
    # then
    assert response.status_code == 200
    assert message in page_text(response)
    with commune_context(commune_a):
        assert not Enrolment.objects.exists()


def test_a_child_of_another_family_cannot_be_enrolled_from_this_dossier(
    client, commune_a, agent_a, canteen_a
):
    # given
    membership = make_family(commune_a, email="parent@example.fr")
    other_child = make_family(
        commune_a, email="autre@example.fr", name="Autre", dossier="F00002"
    ).family.children.get()
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/inscriptions/nouvelle/"),
        enrolment_data(membership, canteen_a, **{"inscription-child": other_child.pk}),
    )
    # then
    assert response.status_code == 200
    with commune_context(commune_a):
        assert not Enrolment.objects.exists()


def test_agent_sets_the_quotient_familial(client, commune_a, agent_a):
    # given
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/quotient/"),
        {"qf-value": "640", "qf-valid_from": "2026-01-01"},
    )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        assert list(QuotientFamilial.objects.values_list("family_id", "value", "valid_from")) == [
            (membership.family_id, 640, dt.date(2026, 1, 1))
        ]
    page = page_text(client.get(response["Location"]))
    assert "Quotient familial en vigueur : <strong>640</strong> (depuis le 01/01/2026)." in page


def test_a_negative_quotient_familial_is_refused(client, commune_a, agent_a):
    # given
    membership = make_family(commune_a, email="parent@example.fr")
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, f"console/familles/{membership.pk}/quotient/"),
        {"qf-value": "-5", "qf-valid_from": "2026-01-01"},
    )
    # then
    assert response.status_code == 200
    assert "Assurez-vous que cette valeur est supérieure ou égale à 0." in page_text(response)
    with commune_context(commune_a):
        assert not QuotientFamilial.objects.exists()


# --- Pointage --------------------------------------------------------------------------------------


def test_attendance_lists_the_children_booked_and_those_enrolled_without_booking(
    monday_evening, client, commune_a, agent_a, canteen_a, child_a
):
    # given
    book(canteen_a, child_a)
    durand = second_family(commune_a, canteen_a)
    client.force_login(agent_a)
    # when
    page = page_text(client.get(attendance_url(commune_a, canteen_a)))
    # then
    assert "Prestation REPAS — École REPAS — lundi 11 janvier 2027" in page
    assert "1 enfant réservé" in page
    booked, unbooked = page.split("Inscrits sans réservation", 1)
    assert "Martin Léa" in booked and "Réservé" in booked and "Durand Léa" not in booked
    assert f'id="enfant-{durand.pk}"' in unbooked and "Présent sans réservation" in unbooked


def test_attendance_costs_the_same_queries_for_many_children(
    client, commune_a, agent_a, canteen_a, django_assert_max_num_queries
):
    # given
    for index in range(6):
        child = second_family(commune_a, canteen_a, name=f"Famille{index}")
        if index % 2:
            book(canteen_a, child)
    client.force_login(agent_a)
    # when / then: commune, session, account, staff role (and 2 SET search_path), the site and the
    # prestation chosen, their lists in the form, the bookings with their children, the enrolments
    with django_assert_max_num_queries(12):
        response = client.get(attendance_url(commune_a, canteen_a))
    assert response.status_code == 200
    assert "3 enfants réservés" in page_text(response)


@pytest.mark.parametrize("status", ["attended", "absent", "absent_justified"])
def test_agent_points_a_booked_child(monday_evening, client, commune_a, agent_a, canteen_a, child_a, status):
    # given
    booking = book(canteen_a, child_a)
    client.force_login(agent_a)
    # when
    response = mark(client, commune_a, canteen_a, child_a, status)
    # then
    assert response.status_code == 302
    assert response["Location"] == (
        f"/c/jolieville/console/pointage/?jour=2027-01-11&site={canteen_a.site.pk}"
        f"&prestation={canteen_a.prestation.pk}#enfant-{child_a.pk}"
    )
    with commune_context(commune_a):
        booking.refresh_from_db()
        assert (booking.status, booking.attendance_marked_by) == (status, agent_a)


def test_a_child_present_without_booking_is_recorded_at_the_unbooked_price(
    monday_evening, client, commune_a, agent_a, canteen_a, child_a
):
    # given
    with commune_context(commune_a):
        Prestation.objects.filter(pk=canteen_a.prestation.pk).update(unbooked_presence_price=Decimal("6.50"))
    client.force_login(agent_a)
    # when
    response = mark(client, commune_a, canteen_a, child_a, "attended")
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        booking = Booking.objects.get()
        assert (booking.child_id, booking.status, booking.unbooked, booking.price, booking.created_by) == (
            child_a.pk,
            "attended",
            True,
            Decimal("6.50"),
            agent_a,
        )
    page = page_text(client.get(attendance_url(commune_a, canteen_a)))
    assert "(sans réservation)" in page


def test_a_child_not_booked_cannot_be_marked_absent(
    monday_evening, client, commune_a, agent_a, canteen_a, child_a
):
    # given
    client.force_login(agent_a)
    # when
    response = mark(client, commune_a, canteen_a, child_a, "absent")
    # then
    assert response.status_code == 302
    assert "Cet enfant n'était pas réservé" in page_text(client.get(response["Location"]))
    with commune_context(commune_a):
        assert not Booking.objects.exists()


def test_a_child_neither_booked_nor_enrolled_cannot_be_pointed(
    monday_evening, client, commune_a, agent_a, canteen_a
):
    # given: a child of this commune, not enrolled
    child = make_family(commune_a, email="autre@example.fr", name="Autre").family.children.get()
    client.force_login(agent_a)
    # when
    response = mark(client, commune_a, canteen_a, child, "attended")
    # then
    assert response.status_code == 404
    with commune_context(commune_a):
        assert not Booking.objects.exists()


def test_attendance_of_a_day_to_come_is_refused_and_changes_nothing(
    client, commune_a, agent_a, canteen_a, child_a
):
    # given a booked child, on the Sunday before the booked Monday (Paris)
    booking = book(canteen_a, child_a)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: at(MONDAY - dt.timedelta(days=1), 23, 30))
        client.force_login(agent_a)
        # when the agent marks the child present for Monday
        response = mark(client, commune_a, canteen_a, child_a, "attended")
        # then it is refused with a French message, and the page offers no button for that day
        assert response.status_code == 302
        page = page_text(client.get(response["Location"]))
        assert "Le pointage d'un jour à venir est impossible" in page
        assert "Ce jour est à venir : la liste se pointe le jour même ou après." in page
        assert 'name="statut"' not in page
    # and nothing changed
    with commune_context(commune_a):
        booking.refresh_from_db()
        assert (booking.status, booking.attendance_marked_at) == ("confirmed", None)


def test_the_service_refuses_attendance_of_a_day_to_come(commune_a, canteen_a, child_a, agent_a):
    # given a booked child
    book(canteen_a, child_a)
    # when the service is asked for Monday on Sunday evening, then Monday just after midnight
    with commune_context(commune_a):
        with pytest.raises(FoyerError) as refused:
            mark_attendance(
                prestation=canteen_a.prestation,
                site=canteen_a.site,
                day=MONDAY,
                child=child_a,
                status="attended",
                actor=agent_a,
                now=at(MONDAY - dt.timedelta(days=1), 23, 59),
            )
        booking = mark_attendance(
            prestation=canteen_a.prestation,
            site=canteen_a.site,
            day=MONDAY,
            child=child_a,
            status="attended",
            actor=agent_a,
            now=at(MONDAY, 0, 1),
        )
    # then the first is refused, the second recorded
    assert refused.value.code == "future_day"
    assert booking.status == "attended"


def test_the_printable_attendance_sheet_has_no_navigation(client, commune_a, agent_a, canteen_a, child_a):
    # given
    book(canteen_a, child_a)
    client.force_login(agent_a)
    # when
    page = page_text(client.get(attendance_url(commune_a, canteen_a, rest="&imprimer=1")))
    # then
    assert "Martin Léa" in page and "Réservé" in page
    assert "<nav" not in page and "<form" not in page
    assert 'class="print-sheet"' in page


# --- Mass cancellation -----------------------------------------------------------------------------


def mass_cancellation_data(catalogue, **changes) -> dict:
    data = {"date": f"{MONDAY:%Y-%m-%d}", "site": catalogue.site.pk, "prestation": "", "reason": "Grève"}
    data.update(changes)
    return data


def test_mass_cancellation_previews_then_cancels_credits_closes_and_tells_each_family(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given: a prepaid prestation; family Martin has two children booked, family Durand one
    # (held, not yet paid)
    garderie = make_catalogue(commune_a, code="GARDE", billing_mode=Prestation.BillingMode.PREPAID)
    martin = make_family(commune_a, email="martin@example.fr")
    lea = martin.family.children.get()
    tom = Child.objects.create(family=martin.family, first_name="Tom", last_name="Martin", birth_date=MONDAY)
    for child in (lea, tom):
        enrol(garderie, child)
    durand = second_family(commune_a, garderie)
    paid_lea, paid_tom = book(garderie, lea), book(garderie, tom, price="3.00")
    held = book(garderie, durand, status="held")
    client.force_login(agent_a)
    url = commune_path(commune_a, "console/annulation-collective/")
    # when: the preview
    preview = page_text(client.post(url, mass_cancellation_data(garderie)))
    # then: nothing is cancelled yet
    assert "<strong>3</strong> réservations seront annulées" in preview
    assert "<strong>2</strong> familles seront prévenues par e-mail" in preview
    assert "2 réservations payées donneront lieu à un avoir (7,05\u00a0€ en tout)" in preview
    assert "Le site sera fermé ce jour-là" in preview
    with commune_context(commune_a):
        assert Booking.objects.filter(status="cancelled").count() == 0
    # when: confirmed
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**mass_cancellation_data(garderie), "confirmer": "1"})
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        assert set(Booking.objects.values_list("pk", "status", "cancel_reason")) == {
            (paid_lea.pk, "cancelled", "Grève"),
            (paid_tom.pk, "cancelled", "Grève"),
            (held.pk, "cancelled", "Grève"),
        }
        assert set(BookingCredit.objects.values_list("booking_id", "amount")) == {
            (paid_lea.pk, Decimal("4.05")),
            (paid_tom.pk, Decimal("3.00")),
        }
        assert list(Closure.objects.values_list("date", "site_id", "reason")) == [
            (MONDAY, garderie.site.pk, "Grève")
        ]
    assert sorted(message.to[0] for message in mail.outbox) == ["durand@example.fr", "martin@example.fr"]
    to_martin = next(message for message in mail.outbox if message.to == ["martin@example.fr"])
    assert "Léa" in to_martin.body and "Tom" in to_martin.body and "Grève" in to_martin.body


def test_mass_cancellation_of_one_prestation_does_not_close_the_site(
    client, commune_a, agent_a, canteen_a, child_a, django_capture_on_commit_callbacks
):
    # given
    booking = book(canteen_a, child_a)
    client.force_login(agent_a)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, "console/annulation-collective/"),
            {**mass_cancellation_data(canteen_a, prestation=canteen_a.prestation.pk), "confirmer": "1"},
        )
    # then: month-end booking, so no credit
    with commune_context(commune_a):
        booking.refresh_from_db()
        assert booking.status == "cancelled"
        assert not Closure.objects.exists() and not BookingCredit.objects.exists()
    assert [message.to for message in mail.outbox] == [["parent@example.fr"]]


def test_mass_cancellation_without_reason_is_refused(client, commune_a, agent_a, canteen_a, child_a):
    # given
    booking = book(canteen_a, child_a)
    client.force_login(agent_a)
    # when
    response = client.post(
        commune_path(commune_a, "console/annulation-collective/"),
        {**mass_cancellation_data(canteen_a, reason=""), "confirmer": "1"},
    )
    # then
    assert response.status_code == 200
    assert "Ce champ est obligatoire." in page_text(response)
    with commune_context(commune_a):
        booking.refresh_from_db()
        assert booking.status == "confirmed" and not Closure.objects.exists()
    assert mail.outbox == []


# --- Cancellation requests -------------------------------------------------------------------------


def test_requests_queue_shows_pending_first_in_fixed_queries(
    client, commune_a, agent_a, canteen_a, django_assert_max_num_queries
):
    # given: five requests, the oldest one refused
    requests = []
    for index in range(5):
        child = second_family(commune_a, canteen_a, name=f"Famille{index}")
        requests.append(ask_cancellation(book(canteen_a, child), commune_a))
    with commune_context(commune_a):
        CancellationRequest.objects.filter(pk=requests[0].pk).update(status="refused")
    client.force_login(agent_a)
    # when: commune, session, account, staff role (and 2 SET search_path), the count and the page
    with django_assert_max_num_queries(8):
        response = client.get(commune_path(commune_a, "console/demandes-annulation/"))
    # then
    rows = page_text(response).split("<tbody>")[1]
    assert rows.index("Famille4") < rows.index("Famille1") < rows.index("Famille0")
    assert rows.count("<strong>En attente</strong>") == 4 and rows.count("Refusée") == 1
    # when: filtered
    refused = page_text(client.get(commune_path(commune_a, "console/demandes-annulation/?statut=refused")))
    # then
    assert "Famille0" in refused and "Famille1" not in refused


@pytest.mark.parametrize(("decision", "credited"), [("accept", False), ("accept_credit", True)])
def test_agent_accepts_a_request_with_or_without_credit(
    client, commune_a, agent_a, child_a, decision, credited, django_capture_on_commit_callbacks
):
    # given: a paid booking after the deadline, a certificate joined
    garderie = make_catalogue(commune_a, code="GARDE", billing_mode=Prestation.BillingMode.PREPAID)
    enrol(garderie, child_a)
    booking = book(garderie, child_a)
    request = ask_cancellation(booking, commune_a)
    client.force_login(agent_a)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/demandes-annulation/{request.pk}/"),
            {"decision": decision, "comment": ""},
        )
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        request.refresh_from_db()
        booking.refresh_from_db()
        assert (request.status, request.credit, request.decided_by) == ("accepted", credited, agent_a)
        assert booking.status == "cancelled"
        assert list(BookingCredit.objects.values_list("booking_id", "amount")) == (
            [(booking.pk, Decimal("4.05"))] if credited else []
        )
    assert [message.to for message in mail.outbox] == [["parent@example.fr"]]
    # the e-mail says plainly what is billed and what is not
    assert (
        "Elle est acceptée : la réservation est annulée et un avoir de 4,05\u00a0€ sera déduit de votre "
        "prochaine facture."
        if credited
        else "Elle est acceptée : la réservation est annulée. Le montant déjà payé ne donne pas lieu à un "
        "avoir, selon le règlement du service."
    ) in mail.outbox[0].body


def test_credit_is_not_offered_when_the_service_never_credits(client, commune_a, agent_a, child_a):
    # given
    garderie = make_catalogue(commune_a, code="GARDE", billing_mode=Prestation.BillingMode.PREPAID)
    with commune_context(commune_a):
        Service.objects.filter(pk=garderie.service.pk).update(late_cancellation="no_credit")
    enrol(garderie, child_a)
    request = ask_cancellation(book(garderie, child_a), commune_a)
    client.force_login(agent_a)
    url = commune_path(commune_a, f"console/demandes-annulation/{request.pk}/")
    # when
    page = page_text(client.get(url))
    response = client.post(url, {"decision": "accept_credit", "comment": ""})
    # then
    assert "Accepter sans avoir" in page and "Accepter avec un avoir" not in page
    assert response.status_code == 200
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "pending" and not BookingCredit.objects.exists()


def test_a_refusal_needs_a_comment_then_is_sent_to_the_family(
    client, commune_a, agent_a, canteen_a, child_a, django_capture_on_commit_callbacks
):
    # given
    booking = book(canteen_a, child_a)
    request = ask_cancellation(booking, commune_a, attachment=False)
    client.force_login(agent_a)
    url = commune_path(commune_a, f"console/demandes-annulation/{request.pk}/")
    # when: no comment
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"decision": "refuse", "comment": " "})
    # then: refused, nothing changed
    assert response.status_code == 200
    assert "Ce champ est obligatoire pour un refus." in page_text(response)
    with commune_context(commune_a):
        request.refresh_from_db()
        booking.refresh_from_db()
        assert (request.status, booking.status) == ("pending", "confirmed")
    assert mail.outbox == []
    # when: with a comment
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"decision": "refuse", "comment": "Pas de justificatif."})
    # then
    assert response.status_code == 302
    with commune_context(commune_a):
        request.refresh_from_db()
        booking.refresh_from_db()
        assert (request.status, request.comment, booking.status) == (
            "refused",
            "Pas de justificatif.",
            "confirmed",
        )
    assert [message.to for message in mail.outbox] == [["parent@example.fr"]]
    assert "Elle est refusée : la réservation est maintenue et sera facturée." in mail.outbox[0].body
    assert "Pas de justificatif." in mail.outbox[0].body


def test_the_attachment_is_streamed_to_the_communes_staff_only(
    client, commune_a, agent_a, agent_b, canteen_a, child_a
):
    # given
    request = ask_cancellation(book(canteen_a, child_a), commune_a)
    url = commune_path(commune_a, f"console/demandes-annulation/{request.pk}/justificatif/")
    detail = commune_path(commune_a, f"console/demandes-annulation/{request.pk}/")
    # when: the commune's agent
    client.force_login(agent_a)
    response = client.get(url)
    # then
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"] == f'attachment; filename="justificatif-{request.pk}.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert url in page_text(client.get(detail)) and "/media/" not in page_text(client.get(detail))
    # when / then: another commune's agent, the family itself
    client.force_login(agent_b)
    assert client.get(url).status_code == 404
    client.force_login(child_a.family.guardians.get().account)
    assert client.get(url).status_code == 404


# --- Who may see what ------------------------------------------------------------------------------


def every_console_page(commune, canteen, membership, request) -> list[str]:
    return [
        commune_path(commune, path)
        for path in (
            "console/catalogue/services/",
            "console/catalogue/services/nouveau/",
            f"console/catalogue/services/{canteen.service.pk}/",
            "console/catalogue/sites/",
            "console/catalogue/sites/nouveau/",
            f"console/catalogue/sites/{canteen.site.pk}/",
            "console/catalogue/prestations/",
            "console/catalogue/prestations/nouvelle/",
            f"console/catalogue/prestations/{canteen.prestation.pk}/",
            "console/catalogue/calendrier/",
            f"console/familles/{membership.pk}/inscriptions/",
            f"console/pointage/?jour=2027-01-11&site={canteen.site.pk}&prestation={canteen.prestation.pk}",
            "console/annulation-collective/",
            "console/demandes-annulation/",
            f"console/demandes-annulation/{request.pk}/",
            f"console/demandes-annulation/{request.pk}/justificatif/",
        )
    ]


def every_console_write(commune, canteen, membership, request) -> list[str]:
    return [
        commune_path(commune, path)
        for path in (
            "console/catalogue/calendrier/fermetures/",
            "console/catalogue/calendrier/vacances/",
            f"console/familles/{membership.pk}/inscriptions/nouvelle/",
            f"console/familles/{membership.pk}/quotient/",
            "console/pointage/marquer/",
            "console/annulation-collective/",
            f"console/demandes-annulation/{request.pk}/",
        )
    ]


def test_staff_of_another_commune_and_families_get_404_everywhere(
    client, commune_a, agent_b, canteen_a, family_a, child_a
):
    # given: an administrator of commune B, and the family of commune A itself
    from shared_identity.models import StaffRole

    StaffRole.objects.filter(account=agent_b).update(role=StaffRole.Role.ADMIN)
    request = ask_cancellation(book(canteen_a, child_a), commune_a)
    pages = every_console_page(commune_a, canteen_a, family_a, request)
    writes = every_console_write(commune_a, canteen_a, family_a, request)
    for account in (agent_b, family_a.family.guardians.get().account):
        client.force_login(account)
        # when / then
        for url in pages:
            assert client.get(url).status_code == 404, url
        for url in writes:
            assert client.post(url, {"decision": "accept", "reason": "x"}).status_code == 404, url
    with commune_context(commune_a):
        request.refresh_from_db()
        assert request.status == "pending"
        assert list(Booking.objects.values_list("status", flat=True)) == ["confirmed"]


def test_an_accepted_request_for_a_month_end_meal_is_not_billed_and_the_email_says_so(
    client, commune_a, agent_a, child_a, canteen_a, django_capture_on_commit_callbacks
):
    # given a month-end meal of January booked, its deadline past, a request with a certificate
    from billing import services as billing
    from billing.models import Invoice

    booking = book(canteen_a, child_a, day=dt.date(2027, 1, 11))
    kept = book(canteen_a, child_a, day=dt.date(2027, 1, 12))
    request = ask_cancellation(booking, commune_a)
    client.force_login(agent_a)
    # when the agent accepts it
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, f"console/demandes-annulation/{request.pk}/"),
            {"decision": "accept", "comment": ""},
        )
    # then the e-mail says the day will not be billed, and January's invoice bills only the other
    assert (
        "Elle est acceptée : la réservation est annulée, ce jour ne vous sera pas facturé."
        in mail.outbox[0].body
    )
    with commune_context(commune_a):
        run = billing.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        invoice = Invoice.objects.get(run=run)
        assert [(line.quantity, line.amount) for line in invoice.lines.all()] == [(1, kept.price)]


def test_no_cancellation_request_for_a_meal_pointed_present(client, commune_a, child_a, canteen_a, family_a):
    # given a past meal the commune pointed present
    booking = book(canteen_a, child_a, day=dt.date(2026, 11, 2), status="attended")
    client.force_login(family_a.family.guardians.get().account)
    url = commune_path(commune_a, f"reservations/{booking.pk}/demande-annulation/")
    # when the family opens the form, or posts it anyway
    opened = client.get(url, follow=True)
    posted = client.post(url, {"reason": "Malade"}, follow=True)
    # then it is sent back to that week with the reason, and nothing is asked of the commune
    for response in (opened, posted):
        assert response.redirect_chain[-1][0] == "/reservations/?semaine=2026-11-02"
        assert "pointé présent ce jour-là : il n'y a rien à annuler" in html.unescape(
            response.content.decode()
        )
    with commune_context(commune_a):
        assert not CancellationRequest.objects.exists()


def test_after_sending_a_request_the_family_returns_to_that_week(
    client, commune_a, child_a, canteen_a, family_a
):
    booking = book(canteen_a, child_a, day=dt.date(2027, 3, 1))
    client.force_login(family_a.family.guardians.get().account)
    response = client.post(
        commune_path(commune_a, f"reservations/{booking.pk}/demande-annulation/"), {"reason": "Malade"}
    )
    assert response.headers["Location"] == "/reservations/?semaine=2027-03-01"
    with commune_context(commune_a):
        assert CancellationRequest.objects.get().booking_id == booking.pk


def test_cancellation_requests_are_listed_in_mes_demandes_with_the_decision(
    client, commune_a, agent_a, child_a, canteen_a, family_a
):
    # given two requests of the family: one refused with a message, one still pending
    refused = ask_cancellation(book(canteen_a, child_a, day=dt.date(2027, 1, 11)), commune_a)
    ask_cancellation(book(canteen_a, child_a, day=dt.date(2027, 1, 12)), commune_a)
    client.force_login(agent_a)
    client.post(
        commune_path(commune_a, f"console/demandes-annulation/{refused.pk}/"),
        {"decision": "refuse", "comment": "Pas de justificatif daté."},
    )
    client.force_login(family_a.family.guardians.get().account)
    # when the family opens "Mes demandes"
    page = html.unescape(client.get("/demandes/").content.decode())
    # then both are there, newest first, with their state, the decision and the way to the week
    assert page.index("mardi 12 janvier 2027") < page.index("lundi 11 janvier 2027")
    assert "En attente" in page and "Refusée : la réservation est maintenue et sera facturée." in page
    assert "Pas de justificatif daté." in page
    assert 'href="/reservations/?semaine=2027-01-11"' in page
