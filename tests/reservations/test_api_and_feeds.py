"""REST API, the private iCal feed, reminder e-mails."""

import datetime as dt
from decimal import Decimal

from django.core import mail

from reservations.deadlines import DeadlineRule
from reservations.models import Booking
from reservations.tasks import send_booking_reminders
from shared_identity.models import Account
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue


def _setup(commune):
    canteen = make_catalogue(commune)
    membership = family_in(commune, "parent@example.fr")
    child = membership.family.children.get()
    enrol(canteen, child)
    return canteen, membership, child


def test_api_books_through_the_cart(client, commune_a):
    canteen, membership, child = _setup(commune_a)
    client.force_login(membership.family.guardians.get().account)
    wednesday = (MONDAY + dt.timedelta(days=2)).isoformat()
    # when
    created = client.post(
        commune_path(commune_a, "api/panier/articles/"),
        {"child": child.pk, "prestation": canteen.prestation.pk, "site": canteen.site.pk, "date": wednesday},
        content_type="application/json",
    )
    assert created.status_code == 201
    cart = client.get("/api/panier/").json()
    assert cart["carts"][0]["total"] == "4.05"
    validated = client.post("/api/panier/valider/").json()
    # then
    assert validated["communes"][0]["bookings"][0]["status"] == "confirmed"
    week = client.get("/api/reservations/semaine/", {"date": wednesday}).json()
    cells = {c["date"]: c for c in week["rows"][0]["cells"]}
    assert cells[wednesday]["state"] == "confirmed" and cells[wednesday]["can_cancel"] is True


def test_api_errors_use_the_project_format(client, commune_a):
    canteen, membership, child = _setup(commune_a)
    client.force_login(membership.family.guardians.get().account)
    url = commune_path(commune_a, "api/panier/articles/")
    bad = client.post(url, {"child": "x"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    saturday = (MONDAY + dt.timedelta(days=5)).isoformat()
    refused = client.post(
        url,
        {"child": child.pk, "prestation": canteen.prestation.pk, "site": canteen.site.pk, "date": saturday},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "code": "not_bookable",
        "message": "Réservation impossible : pas d'accueil ce jour-là.",
        "extra": {},
    }
    assert client.get("/api/panier/").json() == {"carts": []}
    client.logout()
    assert client.get("/api/panier/").json()["code"] == "not_authenticated"


def test_api_cancel_after_the_deadline_says_a_request_is_possible(client, commune_a):
    canteen = make_catalogue(commune_a, cancellation_rule=DeadlineRule.days_before(60))
    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    with commune_context(commune_a):
        booking = Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=MONDAY,
            status="confirmed",
            price=Decimal("4.05"),
        )
    client.force_login(membership.family.guardians.get().account)
    response = client.post(commune_path(commune_a, f"api/reservations/{booking.pk}/annuler/"))
    assert response.status_code == 409
    assert response.json()["code"] == "cancellation_deadline_passed"
    assert response.json()["extra"] == {"booking_id": booking.pk, "can_request": True}


def test_private_calendar_feed_lists_bookings_and_can_be_revoked(client, commune_a):
    canteen, membership, child = _setup(commune_a)
    with commune_context(commune_a):
        Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date.today() + dt.timedelta(days=3),
            status="confirmed",
            price=Decimal("4.05"),
        )
    client.force_login(membership.family.guardians.get().account)
    client.post(f"/compte/calendrier/{membership.family_id}/", {"action": "new"})
    membership.family.refresh_from_db()
    token = membership.family.ical_token
    client.logout()
    feed = client.get(f"/calendrier/{token}.ics")
    assert feed["Content-Type"] == "text/calendar; charset=utf-8"
    body = feed.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\n") and "SUMMARY:Léa — Prestation REPAS (réservé)" in body
    assert "LOCATION:Commune de JolieVille" in body
    # revoked: the old address is gone
    client.force_login(membership.family.guardians.get().account)
    client.post(f"/compte/calendrier/{membership.family_id}/", {"action": "revoke"})
    client.logout()
    assert client.get(f"/calendrier/{token}.ics").status_code == 404


def test_calendar_link_of_another_family_is_404(client, commune_a):
    mine = family_in(commune_a, "me@example.fr")
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002")
    client.force_login(mine.family.guardians.get().account)
    assert client.post(f"/compte/calendrier/{other.family_id}/", {"action": "new"}).status_code == 404
    other.family.refresh_from_db()
    assert other.family.ical_token is None


def test_reminder_goes_to_opted_in_guardians_the_day_before_the_cut_off(commune_a):
    # given a rule "le mardi de la semaine précédente à 23h59", and two enrolled families
    canteen = make_catalogue(commune_a, booking_rule=DeadlineRule.weekday_previous_week(1))
    keen = family_in(commune_a, "keen@example.fr")
    quiet = family_in(commune_a, "quiet@example.fr", name="Durand", dossier="F00002")
    for membership in (keen, quiet):
        enrol(canteen, membership.family.children.get())
    Account.objects.filter(email="keen@example.fr").update(remind_booking_deadlines=True)
    mail.outbox.clear()
    # when the daily task runs on Monday 9:00, the cut-off for next week is Tuesday 23:59
    sent = send_booking_reminders.apply(
        kwargs={"schema_name": commune_a.schema_name, "now": at(MONDAY, 9).isoformat()}
    ).get()
    # then only the guardian who asked for it is reminded
    assert sent == 1
    assert mail.outbox[0].to == ["keen@example.fr"]
    assert "jusqu'au mardi 12 janvier à 23h59" in mail.outbox[0].body
    # and on Sunday (cut-off more than 24 h away) nobody is
    assert (
        send_booking_reminders.apply(
            kwargs={
                "schema_name": commune_a.schema_name,
                "now": at(MONDAY - dt.timedelta(days=1), 9).isoformat(),
            }
        ).get()
        == 0
    )


def test_account_page_saves_the_reminder_preference(client, commune_a):
    membership = family_in(commune_a, "parent@example.fr")
    account = membership.family.guardians.get().account
    client.force_login(account)
    response = client.post("/compte/", {"remind_booking_deadlines": "on"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.remind_booking_deadlines is True
