"""REST API for news: the feed of all communes with unread flags, one item, marking read."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from actualites.models import NewsRead
from tenants.context import commune_context
from tests.actualites.conftest import account_of, member_of_both, news
from tests.conftest import commune_path, make_family


def test_the_feed_of_every_commune_with_unread_flags(client, commune_a, commune_b):
    # given a family in both communes, one item already read
    now = timezone.now()
    membership = member_of_both(commune_a, commune_b)
    account = account_of(membership)
    a = news(
        commune_a,
        "A",
        publish_at=now - dt.timedelta(hours=3),
        image="x.png",
        image_type="image/png",
        image_alt="Affiche",
    )
    b = news(commune_b, "B épinglée", publish_at=now - dt.timedelta(days=2), pinned=True)
    news(commune_b, "Brouillon", publish_at=None)
    with commune_context(commune_a):
        NewsRead.objects.create(item=a, account=account)
    client.force_login(account)
    # when
    response = client.get("/api/actualites/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["unread"], body["page"], body["pages"]) == (2, 1, 1, 1)
    assert [
        (
            r["commune"]["slug"],
            r["id"],
            r["title"],
            r["pinned"],
            r["unread"],
            r["url"],
            r["image_url"],
            r["image_alt"],
        )
        for r in body["results"]
    ] == [
        ("demo", b.pk, "B épinglée", True, True, f"/c/demo/actualites/{b.pk}/", None, ""),
        (
            "jolieville",
            a.pk,
            "A",
            False,
            False,
            f"/c/jolieville/actualites/{a.pk}/",
            f"/c/jolieville/actualites/{a.pk}/image/",
            "Affiche",
        ),
    ]
    assert body["results"][0]["body"] == "La cantine sera fermée vendredi."
    assert body["results"][0]["commune"]["name"] == "Collectivité Démo"


def test_mark_one_read_then_all_read(client, commune_a, commune_b):
    membership = member_of_both(commune_a, commune_b)
    a = news(commune_a, "A")
    news(commune_b, "B")
    client.force_login(account_of(membership))
    # when one is marked read
    response = client.post(commune_path(commune_a, f"api/actualites/{a.pk}/lu/"))
    # then
    assert response.status_code == 200 and response.json() == {"id": a.pk, "unread": False}
    assert client.get("/api/actualites/").json()["unread"] == 1
    item = client.get(commune_path(commune_a, f"api/actualites/{a.pk}/")).json()
    assert (item["title"], item["unread"]) == ("A", False)
    # when all are
    generated_at = client.get("/api/actualites/").json()["generated_at"]
    response = client.post(
        "/api/actualites/tout-lu/", {"avant": generated_at}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json() == {"marked": 1}
    assert client.get("/api/actualites/").json()["unread"] == 0


def test_other_commune_unpublished_or_staff_only_items_are_404(client, commune_a, commune_b, agent_a):
    membership = make_family(commune_b, email="parent@example.fr")
    mine_draft = news(commune_b, "Brouillon", publish_at=None)
    theirs = news(commune_a, "À JolieVille")
    client.force_login(account_of(membership))
    for method, path in (
        ("get", commune_path(commune_a, f"api/actualites/{theirs.pk}/")),
        ("post", commune_path(commune_a, f"api/actualites/{theirs.pk}/lu/")),
        ("get", commune_path(commune_b, f"api/actualites/{mine_draft.pk}/")),
        ("post", commune_path(commune_b, f"api/actualites/{mine_draft.pk}/lu/")),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert [r["title"] for r in client.get("/api/actualites/").json()["results"]] == []
    # the API is the families': staff preview drafts in the console, not here
    client.force_login(agent_a)
    assert client.get(commune_path(commune_a, f"api/actualites/{theirs.pk}/")).status_code == 404
    with commune_context(commune_a):
        assert NewsRead.objects.count() == 0
    with commune_context(commune_b):
        assert NewsRead.objects.count() == 0


def test_the_api_needs_a_session_or_a_key(client, commune_a):
    # 401 with "WWW-Authenticate: Bearer": the API also takes personal keys.
    item = news(commune_a)
    for response in (
        client.get("/api/actualites/"),
        client.post("/api/actualites/tout-lu/"),
        client.post(commune_path(commune_a, f"api/actualites/{item.pk}/lu/")),
    ):
        assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="foyer"'
        assert response.json()["code"] == "not_authenticated"


def test_bad_input_is_refused_in_french(client, commune_a):
    client.force_login(account_of(make_family(commune_a, email="parent@example.fr")))
    response = client.get("/api/actualites/?page=zéro")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    response = client.post("/api/actualites/tout-lu/", {"avant": "hier"}, content_type="application/json")
    assert response.status_code == 400 and "avant" in response.json()["extra"]["fields"]
