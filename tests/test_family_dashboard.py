"""The family dashboard says what to do, "À faire" first: invoices to pay, places held awaiting
payment, the booking deadlines of the coming days, requests waiting for the family's answer;
then this week's bookings. Each line links to where it is done."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing import services as billing
from billing.models import Invoice
from demandes.services import post_request_message, submit_request
from family.dashboard import get_dashboard
from reservations.models import Booking, Cart
from tenants.context import commune_context
from tests.conftest import make_staff
from tests.demandes.conftest import category, install_default_categories
from tests.reservations.conftest import enrol, family_in, make_catalogue

PARIS = ZoneInfo("Europe/Paris")
# Thursday 7 January 2027, 9:00: next week's days close two days before, at 10:00.
NOW = dt.datetime(2027, 1, 7, 9, 0, tzinfo=PARIS)


def _family_in_both(commune_a, commune_b):
    membership = family_in(commune_a, "parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    return membership


def _issued_invoice(commune, family) -> Invoice:
    canteen = make_catalogue(commune, code="FACT")
    with commune_context(commune):
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=dt.date(2026, 12, 3),
            status="confirmed",
            price=Decimal("4.05"),
        )
        run = billing.prepare_invoicing_run(month=dt.date(2026, 12, 1))
        billing.issue_invoicing_run(run_id=run.pk)
        return Invoice.objects.get()


def test_the_dashboard_lists_what_the_family_has_to_do_in_every_commune(commune_a, commune_b):
    # given a family in two communes: an invoice to pay in A, a prepaid cart held in B, meals
    # of next week still free in A, and a request of B the commune asked a question about
    membership = _family_in_both(commune_a, commune_b)
    family, child = membership.family, membership.family.children.get()
    account = family.guardians.get().account
    invoice = _issued_invoice(commune_a, family)
    canteen = make_catalogue(commune_a, code="REPAS")
    enrol(canteen, child)
    prepaid = make_catalogue(commune_b, code="ALSH", billing_mode="prepaid", price="12.50")
    with commune_context(commune_b):
        cart = Cart.objects.create(family=family, account=account, status=Cart.Status.AWAITING_PAYMENT)
        for day in (18, 19):
            Booking.objects.create(
                child=child,
                family=family,
                prestation=prepaid.prestation,
                site=prepaid.site,
                date=dt.date(2027, 1, day),
                status="held",
                price=Decimal("12.50"),
                cart=cart,
                hold_expires_at=dt.datetime(2027, 1, 7, 9, 30, tzinfo=PARIS),
            )
    install_default_categories(commune_b)
    agent = make_staff(commune_b, "agent@demo.test")
    with commune_context(commune_b):
        request = submit_request(
            family=family,
            actor=account,
            category=category(commune_b, "autre-demande"),
            answers={"objet": "Cantine", "message": "Menu sans porc ?"},
            attachments=[],
        )
        post_request_message(request_id=request.pk, actor=agent, message="Pour quels jours ?")

    # when the dashboard is read on Thursday 7 January at 9:00
    board = get_dashboard(account, now=NOW)

    # then each thing to do is there, once, with its commune
    assert [(i.commune.slug, i.reference, i.amount_due) for i in board.invoices_to_pay] == [
        ("jolieville", invoice.reference, Decimal("4.05"))
    ]
    assert [(c.commune.slug, c.places, c.amount, c.expires_label) for c in board.held_carts] == [
        ("demo", 2, Decimal("25.00"), "jeudi 7 janvier à 09h30")
    ]
    assert [(d.commune.slug, d.week, d.closes_label, d.open_slots) for d in board.deadlines] == [
        ("jolieville", dt.date(2027, 1, 11), "samedi 9 janvier à 10h00", 5)
    ]
    assert [(r.commune.slug, r.title) for r in board.requests_awaiting] == [("demo", request.title)]
    assert board.has_todo


def test_this_weeks_bookings_from_today_on(commune_a):
    # given meals booked on Monday and Friday of this week
    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    canteen = make_catalogue(commune_a)
    enrol(canteen, child)
    with commune_context(commune_a):
        for day in (4, 8):
            Booking.objects.create(
                child=child,
                family=membership.family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=dt.date(2027, 1, day),
                status="confirmed",
                price=Decimal("4.05"),
            )
    # when the dashboard is read on Thursday
    board = get_dashboard(membership.family.guardians.get().account, now=NOW)
    # then Friday's meal is this week's, Monday's is past
    assert [
        (day.day, [(s.row.child.first_name, s.cell.label) for s in day.slots]) for day in board.this_week
    ] == [(dt.date(2027, 1, 8), [(child.first_name, "Réservé")])]


def test_nothing_to_do_says_so(client, commune_a):
    # given a family with nothing to pay, book or answer
    membership = family_in(commune_a, "parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    # when the dashboard is shown
    page = html.unescape(client.get("/").content.decode())
    # then it says there is nothing to do
    assert "À faire" in page
    assert "Rien à faire pour le moment" in page


def test_the_page_links_each_line_to_where_it_is_done(client, commune_a):
    # given an invoice to pay and next week's meals still free
    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    _issued_invoice(commune_a, membership.family)
    canteen = make_catalogue(commune_a, code="REPAS")
    enrol(canteen, child)
    client.force_login(membership.family.guardians.get().account)
    # when the dashboard is shown
    page = html.unescape(client.get("/").content.decode())
    # then the invoice leads to "Mes factures" and the deadline to the week to book
    assert "Facture à payer : 4,05" in page
    assert 'href="/factures/"' in page
    assert "Réservez la semaine du" in page
    assert "&commune=jolieville" in page or "&amp;commune=jolieville" in page


# the session, the account, the dashboard's reads (family.dashboard), whatever the number of
# the communes, and django-tenants' `SET search_path`: none repeated per commune or child
DASHBOARD_QUERIES = 11


def test_dashboard_query_count_is_pinned_whatever_the_communes_and_children(
    client, commune_a, commune_b, django_assert_num_queries
):
    # given a family in one commune with one child
    solo = family_in(commune_a, "solo@example.fr", name="Solo", dossier="S-1")
    enrol(make_catalogue(commune_a, code="SOLO"), solo.family.children.get())
    client.force_login(solo.family.guardians.get().account)
    # then the dashboard costs DASHBOARD_QUERIES queries
    with django_assert_num_queries(DASHBOARD_QUERIES, exact=True):
        assert client.get("/").status_code == 200
    # given a family in two communes with three children, each enrolled and booked in both
    membership = _family_in_both(commune_a, commune_b)
    family = membership.family
    for n in (1, 2):
        family.children.create(first_name=f"Enfant{n}", last_name="Martin", birth_date=dt.date(2018, 1, n))
    for commune, code in ((commune_a, "REPA"), (commune_b, "REPB")):
        canteen = make_catalogue(commune, code=code)
        for child in family.children.all():
            enrol(canteen, child)
            with commune_context(commune):
                Booking.objects.create(
                    child=child,
                    family=family,
                    prestation=canteen.prestation,
                    site=canteen.site,
                    date=dt.date.today() + dt.timedelta(days=1),
                    status="confirmed",
                    price=Decimal("4.05"),
                )
    client.force_login(family.guardians.get().account)
    # then it costs the same
    with django_assert_num_queries(DASHBOARD_QUERIES, exact=True):
        assert client.get("/").status_code == 200
