"""E-mail preferences on "Mon compte": one switch per kind (new invoice, request update,
booking reminder, news). Turning one off stops that e-mail, and only that one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from actualites.models import NewsItem
from actualites.tasks import send_news_emails
from billing import services as billing_services
from demandes import services as request_services
from reservations import services as reservation_services
from reservations.deadlines import DeadlineRule
from reservations.models import Booking, CancellationRequest
from reservations.tasks import send_booking_reminders
from shared_identity.models import Account, Guardian
from tenants.context import commune_context
from tests.conftest import make_account, make_family
from tests.reservations.conftest import MONDAY, at, enrol, make_catalogue
from tests.test_profile import address_category

PDF = b"%PDF-1.4\n%%EOF\n"


def _two_guardians(commune):
    """A family whose two guardians each have an account: Camille and Alex."""
    family = make_family(commune, email="camille@example.fr").family
    Guardian.objects.create(
        family=family,
        account=make_account("alex@example.fr", first_name="Alex"),
        first_name="Alex",
        last_name="Martin",
        email="alex@example.fr",
    )
    return family


def _recipients(subject_part: str) -> list[str]:
    return sorted(address for m in mail.outbox if subject_part in m.subject for address in m.to)


def _issue_invoice(commune, family, capture) -> None:
    canteen = make_catalogue(commune)
    with commune_context(commune):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2027, 1, 4),
            status="confirmed",
            price=Decimal("4.05"),
        )
        with capture(execute=True):
            run = billing_services.prepare_invoicing_run(month=dt.date(2027, 1, 1))
            billing_services.issue_invoicing_run(run_id=run.pk)


def _decide_cancellation(commune, family, agent, capture) -> None:
    with commune_context(commune):
        booking = Booking.objects.get(family=family)
        request = CancellationRequest.objects.create(
            booking=booking, family=family, account=family.guardians.first().account, reason="Malade"
        )
        with capture(execute=True):
            reservation_services.decide_cancellation_request(
                request_id=request.pk, actor=agent, accept=False, comment="Délai dépassé de trop."
            )


def test_my_account_saves_each_kind_of_email(client, commune_a):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    page = client.get("/compte/").content.decode()
    assert 'name="notify_invoices" id="id_notify_invoices" checked' in page
    response = client.post("/compte/", {"notify_requests": "on", "remind_booking_deadlines": "on"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (
        account.notify_invoices,
        account.notify_requests,
        account.remind_booking_deadlines,
        account.notify_news,
    ) == (False, True, True, False)


def test_invoice_emails_off_stops_invoice_emails_only(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given Camille turned invoice e-mails off, Alex kept them
    family = _two_guardians(commune_a)
    client.force_login(Account.objects.get(email="camille@example.fr"))
    client.post("/compte/", {"notify_requests": "on", "notify_news": "on"})
    mail.outbox.clear()
    # when an invoice is issued and a cancellation request decided
    _issue_invoice(commune_a, family, django_capture_on_commit_callbacks)
    _decide_cancellation(commune_a, family, agent_a, django_capture_on_commit_callbacks)
    # then only Alex hears of the invoice, and both of the decision
    assert _recipients("nouvelle facture") == ["alex@example.fr"]
    assert _recipients("Demande d'annulation refusée") == ["alex@example.fr", "camille@example.fr"]


def test_request_emails_off_stops_request_updates_only(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given Camille turned request e-mails off
    family = _two_guardians(commune_a)
    camille = Account.objects.get(email="camille@example.fr")
    client.force_login(camille)
    client.post("/compte/", {"notify_invoices": "on", "notify_news": "on"})
    address_category(commune_a)
    with commune_context(commune_a):
        request = request_services.submit_request(
            family=family,
            actor=camille,
            category=address_category(commune_a),
            answers={"address_line": "1 rue", "postcode": "38000", "city": "Grenoble"},
            attachments=[("justificatif_domicile", SimpleUploadedFile("edf.pdf", PDF))],
        )
    mail.outbox.clear()
    # when the commune decides the request, then a cancellation request, and issues an invoice
    with commune_context(commune_a), django_capture_on_commit_callbacks(execute=True):
        request_services.change_request_status(request_id=request.pk, actor=agent_a, status="accepted")
    _issue_invoice(commune_a, family, django_capture_on_commit_callbacks)
    _decide_cancellation(commune_a, family, agent_a, django_capture_on_commit_callbacks)
    # then Camille gets the invoice only; Alex gets all three
    everyone = sorted(address for m in mail.outbox for address in m.to)
    assert everyone == ["alex@example.fr", "alex@example.fr", "alex@example.fr", "camille@example.fr"]
    assert _recipients("nouvelle facture") == ["alex@example.fr", "camille@example.fr"]
    assert _recipients("Demande d'annulation refusée") == ["alex@example.fr"]


def test_news_emails_off_stops_news_only(client, commune_a, django_capture_on_commit_callbacks):
    family = _two_guardians(commune_a)
    client.force_login(Account.objects.get(email="alex@example.fr"))
    client.post("/compte/", {"notify_invoices": "on", "notify_requests": "on"})
    with commune_context(commune_a):
        NewsItem.objects.create(title="Fête de l'école", body="Le 20 juin.", publish_at=timezone.now())
    mail.outbox.clear()
    sent = send_news_emails.apply(kwargs={"schema_name": commune_a.schema_name}).get()
    assert sent == 1
    assert sorted(address for m in mail.outbox for address in m.to) == ["camille@example.fr"]
    assert family.guardians.count() == 2


def test_booking_reminders_follow_the_switch(client, commune_a):
    canteen = make_catalogue(commune_a, booking_rule=DeadlineRule.weekday_previous_week(1))
    family = _two_guardians(commune_a)
    enrol(canteen, family.children.get())
    client.force_login(Account.objects.get(email="camille@example.fr"))
    client.post("/compte/", {"remind_booking_deadlines": "on"})
    mail.outbox.clear()
    sent = send_booking_reminders.apply(
        kwargs={"schema_name": commune_a.schema_name, "now": at(MONDAY, 9).isoformat()}
    ).get()
    assert sent == 1
    assert [m.to for m in mail.outbox] == [["camille@example.fr"]]


def test_api_changes_one_kind_and_keeps_the_others(client, commune_a):
    account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    client.force_login(account)
    response = client.patch("/api/profil/preferences/", {"news": False}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"invoice": True, "request": True, "reminder": False, "news": False}
    assert client.get("/api/profil/preferences/").json()["news"] is False
    bad = client.patch("/api/profil/preferences/", {"news": "peut-être"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    account.refresh_from_db()
    assert account.notify_news is False and account.notify_invoices is True
