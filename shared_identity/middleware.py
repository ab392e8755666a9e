"""Who may enter a commune that families cannot reach: a suspended commune, or one still in
onboarding. Runs after tenants.middleware.CommuneMiddleware (which selects the commune) and
after authentication."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .selectors import is_staff_of

# Pages of a commune reachable before it opens to families: its console (which has its own
# access rules, and where a new administrator accepts the invitation), its logo and its legal
# mentions.
REACHABLE_BEFORE_OPENING = ("console/", "logo/", "mentions-legales/")
# What a suspended commune still serves its families: its invoices (to read, download and pay
# where the régie accepts payments), the payment's return and the provider's webhook, the
# yearly attestations of payments, stopping a direct-debit mandate (and the return of one being
# signed), its logo and its legal mentions. Everything else shows the operator's reason.
REACHABLE_WHEN_SUSPENDED = (
    "factures/",
    "paiement/",
    "attestations/",
    "prelevement/mandat/",
    "prelevement/retour/",
    "logo/",
    "mentions-legales/",
    # The same through the API: invoices, their PDFs, a checkout's status, the attestations.
    "api/factures/",
    "api/paiements/",
    "api/attestations/",
)


class CommuneAccessMiddleware:
    """A suspended commune shows families a clear page, and so does a commune that is not open
    to families yet (onboarding); its staff and operators still get in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        commune = getattr(request, "commune", None)
        if commune is not None and not commune.is_active:
            rest = request.path_info[len(commune.path_prefix) :]
            if not rest.startswith(REACHABLE_WHEN_SUSPENDED) and not _insider(request.user, commune):
                return _closed(request, commune, "tenants/commune_suspended.html", "commune_suspended")
        elif commune is not None and not commune.is_open:
            rest = request.path_info[len(commune.path_prefix) :]
            if not rest.startswith(REACHABLE_BEFORE_OPENING) and not _insider(request.user, commune):
                return _closed(request, commune, "tenants/commune_preparing.html", "commune_preparing")
        return self.get_response(request)


def _closed(request, commune, template: str, code: str):
    """503: the page that says why, or the API's error format on an API address."""
    if not request.path_info.startswith(commune.path_prefix + "api/"):
        return render(request, template, {"commune": commune}, status=503)
    if code == "commune_suspended":
        message = _("L'espace famille de %(commune)s est suspendu.") % {"commune": commune.name}
        extra = {"reason": commune.suspension_reason}
    else:
        message = _("L'espace famille de %(commune)s n'est pas encore ouvert.") % {"commune": commune.name}
        extra = {}
    body = {"code": code, "message": message, "extra": extra}
    return HttpResponse(json.dumps(body), status=503, content_type="application/json")


def _insider(user, commune) -> bool:
    return user.is_authenticated and (user.is_platform_operator or is_staff_of(user, commune))
