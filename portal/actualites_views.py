"""Family pages for news: the feed of all communes (platform), one item and its image (in
its commune, for member families and the commune's staff)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from actualites import images, selectors, services
from family import router
from shared_identity.access import verified_staff_role


def _page_number(request: HttpRequest) -> int:
    value = request.GET.get("page", "")
    return int(value) if value.isdecimal() and 0 < int(value) < 10_000 else 1


@login_required
def feed(request: HttpRequest) -> HttpResponse:
    communes = router.list_family_communes(request.user)
    news = router.family_news_feed(account=request.user, communes=communes, page=_page_number(request))
    return render(request, "actualites/feed.html", {"feed": news, "communes": communes})


def _seen_until(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else None


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = services.mark_all_news_read(
        account=request.user,
        communes=router.list_family_communes(request.user),
        seen_until=_seen_until(request.POST.get("avant", "")),
    )
    if count:
        messages.success(
            request,
            ngettext(
                "%(count)d actualité marquée comme lue.", "%(count)d actualités marquées comme lues.", count
            )
            % {"count": count},
        )
    else:
        messages.success(request, _("Toutes les actualités étaient déjà lues."))
    return redirect("actualites:feed")


@login_required
def detail(request: HttpRequest, item_id: int) -> HttpResponse:
    access = selectors.get_news_item_for_viewer(
        account=request.user,
        commune=request.commune,
        item_id=item_id,
        allow_staff=verified_staff_role(request) is not None,
    )
    if access.as_family:
        services.mark_news_read(account=request.user, item=access.item)
    with timezone.override(ZoneInfo(request.commune.timezone)):
        return render(
            request,
            "actualites/detail.html",
            {"item": access.item, "preview": access.as_staff, "state": access.item.state},
        )


def image(request: HttpRequest, item_id: int) -> FileResponse:
    """The item's image, streamed to whoever may read the item; 404 to everyone else."""
    if not request.user.is_authenticated:
        raise Http404
    item = selectors.get_news_item_for_viewer(
        account=request.user,
        commune=request.commune,
        item_id=item_id,
        allow_staff=verified_staff_role(request) is not None,
    ).item
    if not item.image:
        raise Http404
    try:
        stream = images.storage().open(item.image, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        stream,
        content_type=item.image_type,
        as_attachment=False,
        filename=f"actualite-{item.pk}.{images.EXTENSIONS[item.image_type]}",
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
