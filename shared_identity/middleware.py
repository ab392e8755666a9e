"""Who may enter a commune that families cannot reach: a suspended commune, or one still in
onboarding. Runs after tenants.middleware.CommuneMiddleware (which selects the commune) and
after authentication."""

from __future__ import annotations

from django.shortcuts import render

from .selectors import is_staff_of

# Pages of a commune reachable before it opens to families: its console (which has its own
# access rules, and where a new administrator accepts the invitation), its logo and its legal
# mentions.
REACHABLE_BEFORE_OPENING = ("console/", "logo/", "mentions-legales/")
# What a suspended commune still serves its families: its invoices (to read, download and pay
# where the régie accepts payments), the payment's return and the provider's webhook, its
# logo and its legal mentions. Everything else shows the operator's reason.
REACHABLE_WHEN_SUSPENDED = (
    "factures/",
    "paiement/",
    "logo/",
    "mentions-legales/",
    # The same through the API: invoices, their PDFs, and a checkout's status.
    "api/factures/",
    "api/paiements/",
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
                return render(request, "tenants/commune_suspended.html", {"commune": commune}, status=503)
        elif commune is not None and not commune.is_open:
            rest = request.path_info[len(commune.path_prefix) :]
            if not rest.startswith(REACHABLE_BEFORE_OPENING) and not _insider(request.user, commune):
                return render(request, "tenants/commune_preparing.html", {"commune": commune}, status=503)
        return self.get_response(request)


def _insider(user, commune) -> bool:
    return user.is_authenticated and (user.is_platform_operator or is_staff_of(user, commune))
