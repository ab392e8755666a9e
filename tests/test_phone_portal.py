"""The family portal on a phone: the menu marks the current page, staff pages show no parents'
menu, a favicon and a theme colour; the week as a list of days with each child's count; the
period form arrives filled; times read "01h16"."""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.template import Context, Template

from reservations.models import Booking
from tenants.context import commune_context
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import enrol, family_in, make_catalogue


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_menu_marks_the_current_page(client, commune_a):
    membership = family_in(commune_a, "parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    for path, label in (("/", "Accueil"), ("/reservations/", "Réservations"), ("/factures/", "Factures")):
        page = page_text(client.get(path))
        current = re.findall(r'<a href="[^"]*" aria-current="page">.*?<span>([^<]+)</span></a>', page)
        assert current == [label], path
    # the pages of "Plus" are marked inside it, and its button says so
    page = page_text(client.get("/demandes/"))
    assert re.search(r'<a href="/demandes/" aria-current="page">Mes demandes</a>', page)
    assert '<summary class="current">' in page


def test_staff_pages_do_not_show_the_parents_menu(client, commune_a):
    agent = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(agent)
    page = page_text(client.get(commune_path(commune_a, "console/")))
    assert 'aria-label="Navigation principale"' not in page
    assert "Mes demandes" not in page
    assert 'aria-label="Navigation du compte"' in page


def test_a_favicon_and_a_theme_colour(client, commune_a):
    assert client.get("/favicon.ico").headers["Location"].endswith("/static/img/favicon.svg")
    page = page_text(client.get(commune_path(commune_a, "mentions-legales/")))
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page
    assert f'<meta name="theme-color" content="{commune_a.brand_colour}">' in page


def test_the_week_is_also_a_list_of_days_with_each_childs_count(client, commune_a):
    # given a child booked on Monday and Tuesday of a week, enrolled every weekday
    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    canteen = make_catalogue(commune_a)
    enrol(canteen, child)
    monday = dt.date(2027, 1, 11)
    with commune_context(commune_a):
        for day in (monday, monday + dt.timedelta(days=1)):
            Booking.objects.create(
                child=child,
                family=membership.family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=day,
                status="confirmed",
                price=Decimal("4.05"),
            )
    client.force_login(membership.family.guardians.get().account)
    # when the week is shown
    page = page_text(client.get(f"/reservations/?semaine={monday.isoformat()}"))
    # then each weekday is a card with its slots, the count is given, and the legend explains
    days = re.findall(r'<h3 class="day-title" id="d\d{8}">([^<]+)</h3>', page)
    assert days == [
        "lundi 11 janvier",
        "mardi 12 janvier",
        "mercredi 13 janvier",
        "jeudi 14 janvier",
        "vendredi 15 janvier",
    ]
    assert "2 jours réservés" in page
    assert "Légende" in page
    # the controls name the child, the day and the commune
    assert f" {child.first_name} Prestation REPAS jeudi 14 janvier — {commune_a.name}</span>" in page
    # and the date picker jumps to any week
    assert '<input type="date" id="semaine-date" name="semaine" value="2027-01-11">' in page


def test_the_period_form_arrives_filled_in_the_format_the_input_reads(client, commune_a):
    membership = family_in(commune_a, "parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    page = page_text(client.get("/reservations/periode/"))
    start = re.search(r'<input type="date" name="start" value="([^"]*)"', page)
    end = re.search(r'<input type="date" name="end" value="([^"]*)"', page)
    assert start and end
    # the next four weeks, from today
    assert dt.date.fromisoformat(start.group(1)) + dt.timedelta(days=27) == dt.date.fromisoformat(
        end.group(1)
    )


def test_times_read_the_french_way():
    when = dt.datetime(2027, 2, 2, 1, 16, tzinfo=ZoneInfo("Europe/Paris"))
    rendered = Template('{{ when|date_fr:"j F Y à H:i" }}').render(Context({"when": when}))
    assert rendered == "2 février 2027 à 01h16"


def test_book_the_week_in_one_tap_and_only_ones_own_child(client, commune_a, commune_b):
    # given a child enrolled at the canteen, with no booking deadline
    from reservations.deadlines import DeadlineRule
    from reservations.models import CartItem

    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    canteen = make_catalogue(commune_a, booking_rule=DeadlineRule.none())
    enrol(canteen, child)
    other = family_in(commune_a, "autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(membership.family.guardians.get().account)
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    url = commune_path(commune_a, "panier/ajouter-semaine/")
    data = {"child": child.pk, "prestation": canteen.prestation.pk, "week": monday.isoformat()}
    # when another family's child is sent, or a broken form
    assert client.post(url, {**data, "child": other.family.children.get().pk}).status_code == 404
    client.post(url, {**data, "week": "pas une date"})
    # then nothing is in the cart
    with commune_context(commune_a):
        assert not CartItem.objects.exists()
    # when the parent books the week
    response = client.post(url, data, follow=True)
    # then the five weekdays are in the cart, and the page says so
    with commune_context(commune_a):
        days = sorted(CartItem.objects.values_list("date", flat=True))
    assert days == [monday + dt.timedelta(days=n) for n in range(5)]
    assert "5 jours ajoutés au panier pour" in page_text(response)
    # and another commune's address for it is not found
    assert client.post(commune_path(commune_b, "panier/ajouter-semaine/"), data).status_code == 404


def test_a_suspended_commune_stays_visible_read_only_and_its_invoices_payable(client, commune_a, commune_b):
    # given a family of two communes, with a meal booked next week in B, and B suspended
    from billing import services as billing
    from billing.models import Invoice
    from reservations.deadlines import DeadlineRule
    from tenants.models import Commune

    membership = family_in(commune_a, "parent@example.fr")
    family, child = membership.family, membership.family.children.get()
    family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    canteen_b = make_catalogue(commune_b, code="RB", booking_rule=DeadlineRule.none())
    enrol(canteen_b, child)
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    with commune_context(commune_b):
        Booking.objects.create(
            child=child,
            family=family,
            prestation=canteen_b.prestation,
            site=canteen_b.site,
            date=dt.date(2026, 11, 3),
            status="confirmed",
            price=Decimal("4.05"),
        )
        billing.issue_invoicing_run(run_id=billing.prepare_invoicing_run(month=dt.date(2026, 11, 1)).pk)
        invoice = Invoice.objects.get()
        Booking.objects.create(
            child=child,
            family=family,
            prestation=canteen_b.prestation,
            site=canteen_b.site,
            date=monday,
            status="confirmed",
            price=Decimal("4.05"),
        )
    Commune.objects.filter(pk=commune_b.pk).update(
        status=Commune.Status.SUSPENDED, suspension_reason="Maintenance du service jusqu'au 4 janvier."
    )
    client.force_login(family.guardians.get().account)
    # when the family looks at its week, its invoices and its dashboard
    week = page_text(client.get(f"/reservations/?semaine={monday.isoformat()}"))
    invoices = page_text(client.get("/factures/"))
    dashboard = page_text(client.get("/"))
    # then B is there with the operator's reason, its booking shown but not cancellable
    for page in (week, invoices, dashboard):
        assert f"{commune_b.name} a suspendu son service en ligne." in page
        assert "Maintenance du service jusqu'au 4 janvier." in page
    assert "service suspendu par la commune" in week
    assert not re.search(rf"Annuler<span[^>]*> [^<]*— {re.escape(commune_b.name)}", week)
    assert not re.search(rf"Réserver<span[^>]*> [^<]*— {re.escape(commune_b.name)}", week)
    # its invoice is listed, readable and payable; booking there is still closed
    assert invoice.reference in invoices
    assert client.get(commune_path(commune_b, f"factures/{invoice.pk}/")).status_code == 200
    refused = client.post(
        commune_path(commune_b, "panier/ajouter/"),
        {
            "child": child.pk,
            "prestation": canteen_b.prestation.pk,
            "site": canteen_b.site.pk,
            "date": "2027-01-11",
        },
    )
    assert refused.status_code == 503


def test_the_period_page_shows_the_chosen_weeks_and_removes_a_pattern(client, commune_a):
    # given a child enrolled at the canteen, with no booking deadline
    from reservations.deadlines import DeadlineRule
    from reservations.models import CartItem

    membership = family_in(commune_a, "parent@example.fr")
    child = membership.family.children.get()
    canteen = make_catalogue(commune_a, booking_rule=DeadlineRule.none())
    enrol(canteen, child)
    client.force_login(membership.family.guardians.get().account)
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    friday = monday + dt.timedelta(days=11)
    url = f"/reservations/periode/?du={monday.isoformat()}&au={friday.isoformat()}"
    pattern = {
        "prestation": f"{commune_a.slug}:{canteen.prestation.pk}",
        "children": [str(child.pk)],
        "weekdays": ["0", "1", "3", "4"],
        "start": monday.isoformat(),
        "end": friday.isoformat(),
    }
    # when the parent adds Monday, Tuesday, Thursday and Friday of two weeks
    page = page_text(client.post(url, {**pattern, "action": "add"}))
    # then the eight days are in the cart, and both weeks are shown with the cart's days
    with commune_context(commune_a):
        assert CartItem.objects.count() == 8
    assert page.count('<h2 id="w') == 2
    assert page.count("Dans le panier</span>") >= 8
    # when the parent removes the Thursdays and Fridays of the same period
    page = page_text(client.post(url, {**pattern, "weekdays": ["3", "4"], "action": "remove"}))
    # then only Mondays and Tuesdays stay
    with commune_context(commune_a):
        days = sorted(CartItem.objects.values_list("date", flat=True))
    assert [day.weekday() for day in days] == [0, 1, 0, 1]
    assert "4 jours retirés du panier" in page
    # and a tap on a day returns to the same weeks, on the day tapped (the button's address
    # ends with the day's anchor, which the browser keeps across the redirect)
    assert (
        f'name="next" value="/reservations/periode/?du={monday.isoformat()}&au={friday.isoformat()}"' in page
    )
    assert re.search(r'formaction="/c/jolieville/panier/[^"]*#l-\d+-\d+-\d+-\d{8}"', page)
