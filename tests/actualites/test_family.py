"""The family's news: one feed of all its communes in one query, the unread marker per
account, the publication window, the detail and the image (members only), the dashboard."""

from __future__ import annotations

import datetime as dt
import html

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actualites.models import NewsRead
from operators.services import provision_commune
from shared_identity.models import Guardian
from tenants.context import commune_context
from tests.actualites.conftest import PNG, account_of, member_of_both, news
from tests.conftest import commune_path, make_account, make_family, open_to_families


def _page(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _titles(page: str) -> list[str]:
    return [part.split("</a>", 1)[0].rsplit(">", 1)[1] for part in page.split('class="news-title"')[1:]]


def _unread_titles(page: str) -> list[str]:
    cards = page.split('<li class="news-card')[1:]
    return [
        title for card, title in zip(cards, _titles(page), strict=True) if " unread" in card.split(">", 1)[0]
    ]


def _queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in context.captured_queries if not q["sql"].startswith("SET search_path")]


# --- The feed --------------------------------------------------------------------------------------


def test_one_feed_of_every_commune_pinned_first_then_newest(client, commune_a, commune_b):
    # given a family in both communes and items of each
    now = timezone.now()
    membership = member_of_both(commune_a, commune_b)
    news(commune_a, "A ancienne", publish_at=now - dt.timedelta(days=5))
    news(commune_b, "B récente", publish_at=now - dt.timedelta(hours=2))
    news(commune_a, "A épinglée ancienne", publish_at=now - dt.timedelta(days=9), pinned=True)
    news(commune_b, "B épinglée", publish_at=now - dt.timedelta(days=1), pinned=True)
    news(commune_a, "A du jour", publish_at=now - dt.timedelta(minutes=5))
    client.force_login(account_of(membership))
    # when
    page = _page(client.get("/actualites/"))
    # then
    assert _titles(page) == ["B épinglée", "A épinglée ancienne", "A du jour", "B récente", "A ancienne"]
    assert page.count('<span class="news-commune">Commune de JolieVille</span>') == 3
    assert page.count('<span class="news-commune">Collectivité Démo</span>') == 2
    assert "5 actualités non lues" in page


def test_the_feed_shows_only_what_is_published_now(client, commune_a):
    # given items in every state
    now = timezone.now()
    membership = make_family(commune_a, email="parent@example.fr")
    news(commune_a, "Brouillon", publish_at=None)
    news(commune_a, "Programmée", publish_at=now + dt.timedelta(hours=1))
    news(
        commune_a,
        "Expirée",
        publish_at=now - dt.timedelta(days=3),
        unpublish_at=now - dt.timedelta(seconds=1),
    )
    news(
        commune_a,
        "Jusqu'à demain",
        publish_at=now - dt.timedelta(days=3),
        unpublish_at=now + dt.timedelta(days=1),
    )
    news(commune_a, "Publiée")
    client.force_login(account_of(membership))
    # when / then
    assert _titles(_page(client.get("/actualites/"))) == ["Publiée", "Jusqu'à demain"]


def test_a_family_sees_nothing_of_a_commune_it_has_not_joined(client, commune_a, commune_b):
    membership = make_family(commune_b, email="parent@example.fr")
    news(commune_a, "Seulement à JolieVille")
    news(commune_b, "À Démo")
    client.force_login(account_of(membership))
    assert _titles(_page(client.get("/actualites/"))) == ["À Démo"]


def test_an_invited_or_suspended_membership_shows_no_news(client, commune_a, commune_b):
    membership = member_of_both(commune_a, commune_b)
    membership.family.memberships.filter(commune=commune_b).update(status="suspended")
    news(commune_a, "À JolieVille")
    news(commune_b, "À Démo")
    client.force_login(account_of(membership))
    assert _titles(_page(client.get("/actualites/"))) == ["À JolieVille"]


def test_the_body_is_plain_text_with_its_line_breaks(client, commune_a):
    membership = make_family(commune_a, email="parent@example.fr")
    item = news(commune_a, "<b>Titre</b>", body="Première ligne\nDeuxième <script>alert(1)</script> ligne")
    client.force_login(account_of(membership))
    raw = client.get(commune_path(commune_a, f"actualites/{item.pk}/")).content.decode()
    assert "<p>Première ligne<br>Deuxième &lt;script&gt;alert(1)&lt;/script&gt; ligne</p>" in raw
    assert "<script>alert(1)" not in raw and "<b>Titre</b>" not in raw
    assert "<script>alert(1)" not in client.get("/actualites/").content.decode()


def test_the_feed_is_paginated(client, commune_a):
    now = timezone.now()
    membership = make_family(commune_a, email="parent@example.fr")
    for index in range(25):
        news(commune_a, f"Info {index:02d}", publish_at=now - dt.timedelta(hours=index + 1))
    client.force_login(account_of(membership))
    first = _page(client.get("/actualites/"))
    second = _page(client.get("/actualites/?page=2"))
    assert _titles(first) == [f"Info {i:02d}" for i in range(20)]
    assert _titles(second) == [f"Info {i:02d}" for i in range(20, 25)]
    assert "Page 1 sur 2" in first and "25 actualités non lues" in second


# --- One query for every commune --------------------------------------------------------------------


def test_the_feed_costs_one_query_for_all_communes(client, commune_a, commune_b):
    # given a family in both communes
    membership = member_of_both(commune_a, commune_b)
    news(commune_a, "A")
    news(commune_b, "B")
    client.force_login(account_of(membership))
    # when
    queries = _queries(client, "/actualites/")
    # then: session, account, memberships (with their communes), then the feed of both
    assert len(queries) == 4
    feeds = [sql for sql in queries if "actualites_newsitem" in sql]
    assert len(feeds) == 1 and '"c_jolieville"' in feeds[0] and '"c_demo"' in feeds[0]
    assert "UNION ALL" in feeds[0]


def test_the_feed_queries_do_not_grow_with_the_number_of_communes(client, commune_a, commune_b):
    # given a family in one commune
    membership = make_family(commune_a, email="parent@example.fr")
    news(commune_a, "A")
    client.force_login(account_of(membership))
    one = _queries(client, "/actualites/")
    # when it joins two more (a third commune is provisioned for this test)
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    third = open_to_families(
        provision_commune(name="Troisième Ville", slug="troisieme", admin_email="admin@troisieme.test")
    )
    membership.family.memberships.create(commune=third, dossier_number="C-1", status="active")
    news(commune_b, "B")
    news(third, "C")
    three = _queries(client, "/actualites/")
    # then
    assert len(one) == len(three) == 4
    assert _titles(_page(client.get("/actualites/"))) == ["C", "B", "A"]


# --- Unread marker ---------------------------------------------------------------------------------


def test_reading_an_item_marks_it_read_for_this_account_only(client, commune_a):
    # given a family with two guardians, each with an account
    membership = make_family(commune_a, email="parent@example.fr")
    first = account_of(membership)
    other = make_account("conjoint@example.fr")
    Guardian.objects.create(
        family=membership.family, account=other, first_name="Sam", last_name="Martin", email=other.email
    )
    item = news(commune_a, "À lire")
    news(commune_a, "Autre", publish_at=timezone.now() - dt.timedelta(days=1))
    client.force_login(first)
    # when the first guardian opens it
    detail = _page(client.get(commune_path(commune_a, f"actualites/{item.pk}/")))
    # then it is read for them, not for the other guardian
    assert "La cantine sera fermée vendredi." in detail
    feed = _page(client.get("/actualites/"))
    assert "1 actualité non lue" in feed
    assert _unread_titles(feed) == ["Autre"]
    assert feed.count('<span class="badge news-unread">Non lue</span>') == 1
    client.force_login(other)
    assert "2 actualités non lues" in _page(client.get("/actualites/"))
    # reading twice keeps one marker
    client.force_login(first)
    client.get(commune_path(commune_a, f"actualites/{item.pk}/"))
    with commune_context(commune_a):
        assert NewsRead.objects.filter(item=item).count() == 1


def test_mark_everything_read_in_every_commune(client, commune_a, commune_b):
    # given unread items in both communes, and one published after the feed was shown
    membership = member_of_both(commune_a, commune_b)
    news(commune_a, "A")
    news(commune_b, "B")
    client.force_login(account_of(membership))
    shown = client.get("/actualites/").context["feed"].generated_at
    late = news(commune_b, "Arrivée après", publish_at=shown + dt.timedelta(microseconds=1))
    # when
    response = client.post("/actualites/tout-lu/", {"avant": shown.isoformat()})
    # then only what was shown is read
    assert response.status_code == 302 and response["Location"] == "/actualites/"
    page = _page(client.get("/actualites/"))
    assert "2 actualités marquées comme lues." in page
    assert "1 actualité non lue" in page
    assert _unread_titles(page) == ["Arrivée après"]
    with commune_context(commune_b):
        assert not NewsRead.objects.filter(item=late).exists()
    # and again: everything is read already
    client.post("/actualites/tout-lu/")
    assert "Toutes les actualités étaient déjà lues." not in _page(client.get("/actualites/"))
    client.post("/actualites/tout-lu/")
    assert "Toutes les actualités étaient déjà lues." in _page(client.get("/actualites/"))


def test_mark_all_read_touches_only_the_family_communes(client, commune_a, commune_b):
    membership = make_family(commune_a, email="parent@example.fr")
    news(commune_a, "A")
    news(commune_b, "B")
    client.force_login(account_of(membership))
    client.post("/actualites/tout-lu/")
    with commune_context(commune_b):
        assert NewsRead.objects.count() == 0
    with commune_context(commune_a):
        assert NewsRead.objects.count() == 1


# --- Detail and image: members only -----------------------------------------------------------------


def test_unpublished_expired_or_other_commune_items_are_404(client, commune_a, commune_b):
    now = timezone.now()
    membership = make_family(commune_a, email="parent@example.fr")
    draft = news(commune_a, publish_at=None)
    scheduled = news(commune_a, publish_at=now + dt.timedelta(hours=1))
    expired = news(commune_a, publish_at=now - dt.timedelta(days=2), unpublish_at=now - dt.timedelta(days=1))
    elsewhere = news(commune_b, "Chez Démo")
    client.force_login(account_of(membership))
    for path in (
        commune_path(commune_a, f"actualites/{draft.pk}/"),
        commune_path(commune_a, f"actualites/{scheduled.pk}/"),
        commune_path(commune_a, f"actualites/{expired.pk}/"),
        commune_path(commune_b, f"actualites/{elsewhere.pk}/"),
        commune_path(commune_a, "actualites/999999/"),
    ):
        assert client.get(path).status_code == 404, path
    with commune_context(commune_a):
        assert NewsRead.objects.count() == 0


def test_the_image_is_served_to_member_families_only(client, commune_a, commune_b, attachments):
    # given an item of A with an image
    item = news(commune_a, image="c_jolieville/actualites/abc.png", image_type="image/png")
    (attachments / "c_jolieville/actualites").mkdir(parents=True)
    (attachments / "c_jolieville/actualites/abc.png").write_bytes(PNG)
    path = commune_path(commune_a, f"actualites/{item.pk}/image/")
    member = make_family(commune_a, email="parent@example.fr")
    stranger = make_family(commune_b, email="autre@example.fr", name="Durand")
    # a member family gets it, as a PNG
    client.force_login(account_of(member))
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert b"".join(response.streaming_content) == PNG
    # a family of another commune, or nobody signed in, does not
    client.force_login(account_of(stranger))
    assert client.get(path).status_code == 404
    assert client.get(commune_path(commune_a, f"actualites/{item.pk}/")).status_code == 404
    assert client.get(commune_path(commune_b, f"actualites/{item.pk}/image/")).status_code == 404
    client.logout()
    assert client.get(path).status_code == 404


def test_an_image_cannot_be_reached_by_guessing_a_url(client, commune_a, attachments):
    # given a member family and an item with a stored image
    item = news(commune_a, image="c_jolieville/actualites/abc.png", image_type="image/png")
    (attachments / "c_jolieville/actualites").mkdir(parents=True)
    (attachments / "c_jolieville/actualites/abc.png").write_bytes(PNG)
    client.force_login(account_of(make_family(commune_a, email="parent@example.fr")))
    # then no URL reaches the file itself
    for path in (
        "/media/c_jolieville/actualites/abc.png",
        "/media/private/c_jolieville/actualites/abc.png",
        "/private/c_jolieville/actualites/abc.png",
        "/c_jolieville/actualites/abc.png",
        "/static/../.data/media/private/c_jolieville/actualites/abc.png",
        commune_path(commune_a, "actualites/abc.png"),
        commune_path(commune_a, "actualites/c_jolieville/actualites/abc.png"),
    ):
        assert client.get(path).status_code == 404, path
    # and a published item without an image has no image either
    plain = news(commune_a, "Sans image")
    assert client.get(commune_path(commune_a, f"actualites/{plain.pk}/image/")).status_code == 404
    assert client.get(commune_path(commune_a, f"actualites/{item.pk}/image/")).status_code == 200


def test_the_detail_page_needs_a_login(client, commune_a):
    item = news(commune_a)
    response = client.get(commune_path(commune_a, f"actualites/{item.pk}/"))
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    assert client.get("/actualites/").status_code == 302


# --- Dashboard -------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_latest_news_and_the_unread_count(client, commune_a, commune_b):
    # given four items in two communes, one already read
    now = timezone.now()
    membership = member_of_both(commune_a, commune_b)
    account = account_of(membership)
    read = news(commune_a, "Déjà lue", publish_at=now - dt.timedelta(hours=1))
    news(commune_b, "Plus ancienne", publish_at=now - dt.timedelta(days=3))
    news(commune_b, "Épinglée", publish_at=now - dt.timedelta(days=2), pinned=True)
    news(commune_a, "Toute fraîche", publish_at=now - dt.timedelta(minutes=1))
    with commune_context(commune_a):
        NewsRead.objects.create(item=read, account=account)
    client.force_login(account)
    # when
    with CaptureQueriesContext(connection) as context:
        page = _page(client.get("/"))
    # then the three first of the feed, the unread count, a link to the feed, in one news query
    assert _titles(page) == ["Épinglée", "Toute fraîche", "Déjà lue"]
    assert "3 non lues" in page
    assert 'href="/actualites/">Voir les 4 actualités de mes communes' in page
    news_queries = [q["sql"] for q in context.captured_queries if "actualites_newsitem" in q["sql"]]
    assert len(news_queries) == 1 and '"c_jolieville"' in news_queries[0] and '"c_demo"' in news_queries[0]


def test_the_dashboard_queries_do_not_grow_with_the_number_of_communes(client, commune_a, commune_b):
    membership = make_family(commune_a, email="parent@example.fr")
    news(commune_a, "A")
    client.force_login(account_of(membership))
    one = _queries(client, "/")
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    news(commune_b, "B")
    two = _queries(client, "/")
    # session, account, memberships, children, staff roles, then one UNION ALL over all the
    # communes each: news, invoices, held carts, requests, this week and the next
    assert len(one) == len(two) == 10
