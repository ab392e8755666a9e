"""Console pages for news: the list with each item's state, the form (new and edit), and
withdrawing or deleting. Every member of the commune's staff may publish: news is the
day-to-day word of the service enfance (a closed canteen, a strike, a menu), written by the
agents who already cancel days and e-mail families; each item records who wrote and who
last changed it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from actualites import selectors, services
from actualites.forms import DeleteForm, NewsForm
from actualites.models import NewsItem
from console.access import staff_required
from foyer.errors import FoyerError, apply_errors


def _commune_tz(request: HttpRequest) -> ZoneInfo:
    return ZoneInfo(request.commune.timezone)


@staff_required
def news_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    page = Paginator(selectors.list_news_items(), 50).get_page(request.GET.get("page"))
    rows = [(item, item.state_at(now)) for item in page]
    with timezone.override(_commune_tz(request)):
        return render(
            request,
            "actualites/console/list.html",
            {"page": page, "rows": rows, "states": NewsItem.State},
        )


def _form_page(request: HttpRequest, *, item: NewsItem | None) -> HttpResponse:
    with timezone.override(_commune_tz(request)):
        form = NewsForm(request.POST or None, request.FILES or None, item=item)
        if request.method == "POST" and form.is_valid():
            now = timezone.now()
            image = form.cleaned_data.get("image")
            try:
                if item is None:
                    saved = services.create_news_item(
                        actor=request.user, data=form.to_input(now), image=image, now=now
                    )
                else:
                    saved = services.update_news_item(
                        actor=request.user,
                        item_id=item.pk,
                        data=form.to_input(now),
                        image=image,
                        remove_image=form.cleaned_data.get("remove_image", False),
                        now=now,
                    )
            except FoyerError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _saved_message(saved, now))
                return redirect("console:news_list")
        lost_image = request.method == "POST" and bool(request.FILES.get("image"))
        return render(
            request,
            "actualites/console/form.html",
            {"form": form, "item": item, "lost_image": lost_image},
            status=400 if request.method == "POST" else 200,
        )


def _saved_message(item: NewsItem, now) -> str:
    state = item.state_at(now)
    if state == NewsItem.State.DRAFT:
        return _("« %(title)s » est enregistrée comme brouillon.") % {"title": item.title}
    if state == NewsItem.State.SCHEDULED:
        return _("« %(title)s » est programmée : elle sera publiée le %(date)s.") % {
            "title": item.title,
            "date": services.format_when(item.publish_at),
        }
    if state == NewsItem.State.EXPIRED:
        return _("« %(title)s » est enregistrée ; sa période de publication est terminée.") % {
            "title": item.title
        }
    if item.emailed_at is None:
        return _("« %(title)s » est publiée ; les familles sont prévenues par e-mail.") % {
            "title": item.title
        }
    return _("« %(title)s » est enregistrée.") % {"title": item.title}


@staff_required
@require_http_methods(["GET", "POST"])
def news_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, item=None)


@staff_required
@require_http_methods(["GET", "POST"])
def news_edit(request: HttpRequest, item_id: int) -> HttpResponse:
    return _form_page(request, item=selectors.get_news_item(item_id=item_id))


@staff_required
@require_http_methods(["GET", "POST"])
def news_delete(request: HttpRequest, item_id: int) -> HttpResponse:
    """GET: confirm; POST action=withdraw (a published item stops being shown, and may be
    published again) or action=delete (gone for good, with its image)."""
    item = selectors.get_news_item(item_id=item_id)
    now = timezone.now()
    error = None
    if request.method == "POST":
        form = DeleteForm(request.POST)
        try:
            if not form.is_valid():
                raise FoyerError("invalid", _("Choisissez de retirer ou de supprimer l'actualité."))
            if form.cleaned_data["action"] == "withdraw":
                services.withdraw_news_item(actor=request.user, item_id=item.pk, now=now)
                messages.success(
                    request, _("« %(title)s » n'est plus visible des familles.") % {"title": item.title}
                )
            else:
                title = services.delete_news_item(actor=request.user, item_id=item.pk)
                messages.success(request, _("« %(title)s » est supprimée.") % {"title": title})
        except FoyerError as exc:
            error = exc
        else:
            return redirect("console:news_list")
    with timezone.override(_commune_tz(request)):
        return render(
            request,
            "actualites/console/delete.html",
            {
                "item": item,
                "state": item.state_at(now),
                "can_withdraw": item.allows("withdraw", now),
                "error": error,
            },
            status=error.status if error else 200,
        )
