"""The account page (preferences, calendar feed) and the private iCal feed itself."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from reservations.ical import family_calendar
from shared_identity import services
from shared_identity.models import Family

from .reservation_forms import AccountSettingsForm


def _families(request: HttpRequest):
    return Family.objects.filter(guardians__account=request.user).distinct().order_by("pk")


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    form = AccountSettingsForm(
        request.POST or None, initial={"remind_booking_deadlines": request.user.remind_booking_deadlines}
    )
    if request.method == "POST" and form.is_valid():
        services.set_booking_reminders(
            account=request.user, enabled=form.cleaned_data["remind_booking_deadlines"]
        )
        messages.success(request, _("Vos préférences sont enregistrées."))
        return redirect("portal:account")
    return render(request, "portal/account.html", {"form": form, "families": _families(request)})


@login_required
@require_POST
def calendar_link(request: HttpRequest, family_id: int) -> HttpResponse:
    family = _families(request).filter(pk=family_id).first()
    if family is None:
        raise Http404
    if request.POST.get("action") == "revoke":
        services.revoke_calendar_token(family=family)
        messages.success(request, _("Le lien du calendrier est désactivé."))
    else:
        services.rotate_calendar_token(family=family)
        messages.success(request, _("Nouveau lien de calendrier créé : l'ancien ne fonctionne plus."))
    return redirect("portal:account")


def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    family = Family.objects.filter(ical_token=token).first() if token else None
    if family is None:
        raise Http404
    today = timezone.localdate()
    body = family_calendar(
        family=family, start=today - dt.timedelta(days=60), end=today + dt.timedelta(days=366)
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="foyer.ics"'
    response["Cache-Control"] = "private, max-age=900"
    return response
