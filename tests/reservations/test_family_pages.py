"""The family's pages: one week view for all communes, the cart, cancellation requests."""

import datetime as dt
import html
import re
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reservations.deadlines import DeadlineRule
from reservations.models import Booking, CancellationRequest, Cart, CartItem
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.reservations.conftest import MONDAY, enrol, family_in, make_catalogue

WEEK = f"/reservations/?semaine={MONDAY.isoformat()}"


def _two_communes(commune_a, commune_b):
    canteen_a = make_catalogue(commune_a, code="REPAS")
    canteen_b = make_catalogue(commune_b, code="MERJ", billing_mode="prepaid", price="12.00")
    membership = family_in(commune_a, "parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    child = membership.family.children.get()
    enrol(canteen_a, child)
    enrol(canteen_b, child)
    return membership, canteen_a, canteen_b


def test_week_view_shows_every_commune_together(client, commune_a, commune_b):
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    client.force_login(membership.family.guardians.get().account)
    page = html.unescape(client.get(WEEK).content.decode())
    assert "Semaine 2 du 11/01/2027 au 17/01/2027" in page
    assert "Prestation REPAS" in page and "Prestation MERJ" in page
    assert "Commune de JolieVille" in page and "Collectivité Démo" in page
    assert "modifiable jusqu'au samedi 9 janvier à 10h00" in page


def test_week_view_costs_the_same_queries_for_one_or_two_communes(client, commune_a, commune_b):
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    client.force_login(membership.family.guardians.get().account)
    with CaptureQueriesContext(connection) as both:
        assert client.get(WEEK).status_code == 200
    with CaptureQueriesContext(connection) as one:
        assert client.get(WEEK + "&commune=jolieville").status_code == 200

    # session, account, memberships, children, then the family router: one query for all communes
    def count(context):
        return len([q for q in context.captured_queries if not q["sql"].startswith("SET search_path")])

    assert count(both) == count(one) == 5
    unions = [q["sql"] for q in both.captured_queries if "UNION ALL" in q["sql"]]
    assert len(unions) == 1 and "c_jolieville" in unions[0] and "c_demo" in unions[0]


def test_book_from_the_week_then_validate_the_cart(client, commune_a, commune_b):
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    child = membership.family.children.get()
    client.force_login(membership.family.guardians.get().account)
    for catalogue in (canteen_a, canteen_b):
        response = client.post(
            commune_path(catalogue.commune, "panier/ajouter/"),
            {
                "child": child.pk,
                "prestation": catalogue.prestation.pk,
                "site": catalogue.site.pk,
                "date": (MONDAY + dt.timedelta(days=2)).isoformat(),
                "next": WEEK,
            },
        )
        assert response.status_code == 302 and response["Location"] == WEEK
    cart = html.unescape(client.get("/panier/").content.decode())
    assert "4,05\u00a0€" in cart and "12,00\u00a0€" in cart
    assert "plusieurs communes" in cart
    response = client.post("/panier/valider/")
    assert response["Location"] == "/panier/valide/"
    page = html.unescape(client.get("/panier/valide/").content.decode())
    assert "12,00\u00a0€ à payer avant" in page
    with commune_context(commune_a):
        assert Booking.objects.get().status == "confirmed"
    with commune_context(commune_b):
        assert Booking.objects.get().status == "held"
    week = html.unescape(client.get(WEEK).content.decode())
    assert "Réservé" in week and "En attente de paiement" in week


def test_no_action_in_a_commune_the_family_does_not_belong_to(client, commune_a, commune_b):
    canteen_b = make_catalogue(commune_b)
    membership = family_in(commune_a, "parent@example.fr")
    client.force_login(membership.family.guardians.get().account)
    response = client.post(
        commune_path(commune_b, "panier/ajouter/"),
        {
            "child": membership.family.children.get().pk,
            "prestation": canteen_b.prestation.pk,
            "site": canteen_b.site.pk,
            "date": MONDAY.isoformat(),
        },
    )
    assert response.status_code == 404
    with commune_context(commune_b):
        assert not CartItem.objects.exists()


def _late_booking(commune):
    canteen = make_catalogue(commune, cancellation_rule=DeadlineRule.days_before(60))
    membership = family_in(commune, "parent@example.fr")
    child = membership.family.children.get()
    enrol(canteen, child)
    with commune_context(commune):
        booking = Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=MONDAY,
            status="confirmed",
            price=Decimal("4.05"),
        )
    return membership, booking


def test_cancel_after_the_deadline_leads_to_a_request_with_a_certificate(client, commune_a):
    membership, booking = _late_booking(commune_a)
    client.force_login(membership.family.guardians.get().account)
    response = client.post(commune_path(commune_a, f"reservations/{booking.pk}/annuler/"))
    assert response["Location"] == commune_path(commune_a, f"reservations/{booking.pk}/demande-annulation/")
    # a text file renamed .pdf is refused, nothing is stored
    fake = SimpleUploadedFile("certificat.pdf", b"pas un pdf", content_type="application/pdf")
    response = client.post(response["Location"], {"reason": "Malade", "attachment": fake})
    assert "ni un PDF" in html.unescape(response.content.decode())
    with commune_context(commune_a):
        assert not CancellationRequest.objects.exists()
    # a real PDF goes through, stored under the commune's schema
    pdf = SimpleUploadedFile(
        "certificat.pdf", b"%PDF-1.4\n%fake but well-formed head\n", content_type="application/pdf"
    )
    response = client.post(
        commune_path(commune_a, f"reservations/{booking.pk}/demande-annulation/"),
        {"reason": "Malade", "attachment": pdf},
    )
    assert response.status_code == 302
    with commune_context(commune_a):
        request = CancellationRequest.objects.get()
        assert request.attachment.name.startswith("c_jolieville/cancellations/")
        booking.refresh_from_db()
        assert booking.status == "confirmed"
    week = html.unescape(client.get(WEEK).content.decode())
    assert "demande d'annulation en cours" in week


def test_empty_and_oversized_attachments_are_refused(client, commune_a):
    membership, booking = _late_booking(commune_a)
    client.force_login(membership.family.guardians.get().account)
    url = commune_path(commune_a, f"reservations/{booking.pk}/demande-annulation/")
    big = SimpleUploadedFile("c.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), content_type="application/pdf")
    page = html.unescape(client.post(url, {"reason": "Malade", "attachment": big}).content.decode())
    assert "dépasse 5 Mo" in page
    with commune_context(commune_a):
        assert not CancellationRequest.objects.exists()


def test_period_view_books_a_pattern_for_several_children(client, commune_a):
    canteen = make_catalogue(commune_a)
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    sibling = family.children.create(first_name="Hugo", last_name="Martin", birth_date=dt.date(2019, 9, 2))
    for child in family.children.all():
        enrol(canteen, child)
    client.force_login(family.guardians.get().account)
    form = html.unescape(client.get("/reservations/periode/").content.decode())
    assert "Commune de JolieVille — Service REPAS — Prestation REPAS" in form
    response = client.post(
        "/reservations/periode/",
        {
            "prestation": f"jolieville:{canteen.prestation.pk}",
            "children": [str(c.pk) for c in family.children.all()],
            "weekdays": ["0", "1", "3", "4", "5"],
            "start": MONDAY.isoformat(),
            "end": (MONDAY + dt.timedelta(days=6)).isoformat(),
        },
    )
    page = html.unescape(response.content.decode())
    # Mon, Tue, Thu, Fri for two children; Saturday refused for both with its reason
    assert "8 réservations ajoutées au panier" in page
    assert page.count("pas d'accueil ce jour-là") == 2
    with commune_context(commune_a):
        assert CartItem.objects.filter(child=sibling).count() == 4


def test_week_view_filters_by_service_across_communes(client, commune_a, commune_b):
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    client.force_login(membership.family.guardians.get().account)
    page = html.unescape(client.get(WEEK + "&service=Service+MERJ").content.decode())
    assert "Prestation MERJ" in page and "Prestation REPAS" not in page
    assert "<option selected>Service MERJ</option>" in page


def _busy_family(commune_a, commune_b, *, children: int):
    """A family in both communes with ``children`` children enrolled in both, a booking, a cart
    line and a pending absence request each."""
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    family = membership.family
    first = family.children.get()
    for n in range(1, children):
        family.children.create(first_name=f"Enfant{n}", last_name="Martin", birth_date=dt.date(2018, 1, n))
    account = family.guardians.get().account
    for child in family.children.exclude(pk=first.pk):
        enrol(canteen_a, child)
        enrol(canteen_b, child)
    for index, child in enumerate(family.children.all()):
        for catalogue in (canteen_a, canteen_b):
            with commune_context(catalogue.commune):
                Booking.objects.create(
                    child=child,
                    family=family,
                    prestation=catalogue.prestation,
                    site=catalogue.site,
                    date=MONDAY + dt.timedelta(days=index % 5),
                    status="confirmed",
                    price=Decimal("4.05"),
                )
                cart, _created = Cart.objects.get_or_create(family=family, account=account, status="open")
                CartItem.objects.create(
                    cart=cart,
                    action="book",
                    child=child,
                    prestation=catalogue.prestation,
                    site=catalogue.site,
                    date=MONDAY + dt.timedelta(days=(index + 1) % 5),
                )
    return account


def _week_queries(client, django_assert_num_queries, count: int) -> None:
    with django_assert_num_queries(count, exact=True) as captured:
        assert client.get(WEEK).status_code == 200
    assert len([q for q in captured.captured_queries if "UNION ALL" in q["sql"]]) == 1


def test_week_view_query_count_is_pinned_whatever_the_communes_and_children(
    client, commune_a, commune_b, django_assert_num_queries
):
    # given a family in one commune with one child
    membership = family_in(commune_a, "solo@example.fr", name="Solo", dossier="S-1")
    enrol(make_catalogue(commune_a, code="SOLO"), membership.family.children.get())
    client.force_login(membership.family.guardians.get().account)
    # then its week costs WEEK_QUERIES queries
    _week_queries(client, django_assert_num_queries, WEEK_QUERIES)
    # given a family in two communes with three children, bookings everywhere
    client.force_login(_busy_family(commune_a, commune_b, children=3))
    # then its week costs the same
    _week_queries(client, django_assert_num_queries, WEEK_QUERIES)


# session, account, memberships, children, the family router's one statement, and the
# one `SET search_path` django-tenants issues on the request's first cursor
WEEK_QUERIES = 6


def _submission(page: str, label: str) -> tuple[str, dict, str]:
    """What a browser sends when the first button ``label`` of the week is tapped: its form's
    fields (the form it names), its own name and value, to its address without the fragment
    (which stays in the browser)."""
    button = re.search(
        r'<button type="submit" form="(?P<form>[^"]+)" formaction="(?P<action>[^"#]+)(?P<anchor>#[^"]*)?"'
        r'(?: name="(?P<name>[^"]+)" value="(?P<value>[^"]+)")?[^>]*>' + re.escape(label) + "<",
        page,
    )
    assert button, f"no {label} button"
    form = re.search(r'<form id="' + re.escape(button["form"]) + r'"[^>]*>(.*?)</form>', page, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[1]))
    if button["name"]:
        fields[button["name"]] = button["value"]
    return html.unescape(button["action"]), {k: html.unescape(v) for k, v in fields.items()}, button["anchor"]


def test_a_cells_button_sends_the_fields_its_own_form_sent(client, commune_a, commune_b):
    # given a family's week, whose cells have no form of their own
    membership, canteen_a, canteen_b = _two_communes(commune_a, commune_b)
    child = membership.family.children.get()
    client.force_login(membership.family.guardians.get().account)
    page = client.get(WEEK).content.decode()
    assert '<td class="cell state-available" id="g-' in page
    assert not re.search(r"<(td|li) class=\"(cell|slot) [^>]*>((?!</td>|</li>).)*<form", page, re.S)
    # and every button names a form of the page, each form id once
    form_ids = re.findall(r'<form id="([^"]+)"', page)
    assert len(form_ids) == len(set(form_ids))
    assert set(re.findall(r'<button type="submit" form="([^"]+)"', page)) <= set(form_ids)
    # when the parent taps the first "Réserver" of the week (Monday, Collectivité Démo)
    action, fields, anchor = _submission(page, "Réserver")
    response = client.post(action, fields)
    # then the view received what a cell's form sent (child, prestation, site, date, next),
    # the day is in the cart, and the browser comes back to the page on the cell tapped
    assert sorted(fields) == ["child", "csrfmiddlewaretoken", "date", "next", "prestation", "site"]
    assert fields["next"] == WEEK and anchor.startswith(("#l-", "#g-"))
    assert response.status_code == 302 and response["Location"] == WEEK
    with commune_context(commune_b):
        item = CartItem.objects.get()
    assert (item.child_id, item.prestation_id, item.date) == (child.pk, canteen_b.prestation.pk, MONDAY)
    # when the parent taps "Retirer" on that day
    action, fields, _anchor = _submission(client.get(WEEK).content.decode(), "Retirer")
    response = client.post(action, fields)
    # then the week's shared form sent the return address, and the day left the cart
    assert sorted(fields) == ["csrfmiddlewaretoken", "next"]
    assert response.status_code == 302 and response["Location"] == WEEK
    with commune_context(commune_b):
        assert not CartItem.objects.exists()
