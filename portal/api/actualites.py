"""REST API for news (session auth, errors as {"code", "message", "extra"}): the family's
feed of all communes with unread flags, one item, marking read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from actualites import selectors, services
from family import router
from tenants.templatetags.communes import commune_url

from .openapi import errors


class FeedQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=9999, required=False, default=1)


class MarkAllReadInput(serializers.Serializer):
    avant = serializers.DateTimeField(required=False)


class NewsCommuneOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class NewsItemOut(serializers.Serializer):
    commune = NewsCommuneOut()
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    publish_at = serializers.DateTimeField()
    pinned = serializers.BooleanField()
    unread = serializers.BooleanField()
    image_alt = serializers.CharField()
    url = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)


class NewsDetailOut(NewsItemOut):
    unpublish_at = serializers.DateTimeField(allow_null=True)


class FeedOut(serializers.Serializer):
    count = serializers.IntegerField()
    unread = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    generated_at = serializers.DateTimeField()
    results = NewsItemOut(many=True)


class MarkedOut(serializers.Serializer):
    marked = serializers.IntegerField()


class ReadOut(serializers.Serializer):
    id = serializers.IntegerField()
    unread = serializers.BooleanField()


def _links(commune, item_id: int, has_image: bool) -> dict:
    return {
        "url": commune_url(commune, "commune_actualites:detail", item_id),
        "image_url": commune_url(commune, "commune_actualites:image", item_id) if has_image else None,
    }


@extend_schema(tags=["actualites"], parameters=[FeedQuery], responses={200: FeedOut, **errors(400)})
class FeedView(APIView):
    """GET /api/actualites/?page=N: published items of every commune of the family, pinned
    first then newest, with the account's unread flags and the feed's totals."""

    def get(self, request):
        query = FeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        feed = router.family_news_feed(
            account=request.user,
            communes=router.list_family_communes(request.user),
            page=query.validated_data["page"],
        )
        return Response(
            {
                "count": feed.total,
                "unread": feed.unread,
                "page": feed.page,
                "pages": feed.pages,
                "generated_at": feed.generated_at,
                "results": [
                    {
                        "commune": {"slug": item.commune.slug, "name": item.commune.name},
                        "id": item.id,
                        "title": item.title,
                        "body": item.body,
                        "publish_at": item.publish_at,
                        "pinned": item.pinned,
                        "unread": item.unread,
                        "image_alt": item.image_alt if item.has_image else "",
                        **_links(item.commune, item.id, item.has_image),
                    }
                    for item in feed.items
                ],
            }
        )


@extend_schema(tags=["actualites"], request=MarkAllReadInput, responses={200: MarkedOut, **errors(400)})
class MarkAllReadView(APIView):
    """POST /api/actualites/tout-lu/ {"avant": <generated_at of the feed shown>}."""

    def post(self, request):
        data = MarkAllReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        marked = services.mark_all_news_read(
            account=request.user,
            communes=router.list_family_communes(request.user),
            seen_until=data.validated_data.get("avant"),
        )
        return Response({"marked": marked})


@extend_schema(tags=["actualites"], responses={200: NewsDetailOut, **errors(404)})
class ItemView(APIView):
    """GET /c/<slug>/api/actualites/<id>/: one published item of a commune of the family
    (does not mark it read). The API is the families': staff preview in the console."""

    def get(self, request, item_id: int):
        access = selectors.get_news_item_for_viewer(
            account=request.user, commune=request.commune, item_id=item_id, allow_staff=False
        )
        item = access.item
        unread = not item.reads.filter(account=request.user).exists()
        return Response(
            {
                "commune": {"slug": request.commune.slug, "name": request.commune.name},
                "id": item.pk,
                "title": item.title,
                "body": item.body,
                "publish_at": item.publish_at,
                "unpublish_at": item.unpublish_at,
                "pinned": item.pinned,
                "unread": unread,
                "image_alt": item.image_alt if item.image else "",
                **_links(request.commune, item.pk, bool(item.image)),
            }
        )


@extend_schema(tags=["actualites"], request=None, responses={200: ReadOut, **errors(404)})
class MarkReadView(APIView):
    """POST /c/<slug>/api/actualites/<id>/lu/: the account has read a published item."""

    def post(self, request, item_id: int):
        access = selectors.get_news_item_for_viewer(
            account=request.user, commune=request.commune, item_id=item_id, allow_staff=False
        )
        services.mark_news_read(account=request.user, item=access.item)
        return Response({"id": access.item.pk, "unread": False})
