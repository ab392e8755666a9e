"""The browser policy sent with every response: Content-Security-Policy (django-csp, configured
by settings.CONTENT_SECURITY_POLICY) and Permissions-Policy.

The policy allows no inline script and no inline style attribute; a ``<style>`` element must
carry ``nonce="{{ request.csp_nonce }}"`` (the nonce is only added to the header of responses
that use it). A view that needs more (the news image sends its own, stricter header) sets the
header itself: django-csp never overwrites one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

# Mollie's hosted checkout and PayFiP's, where the cart and the invoices post to (through a
# redirect, which browsers check against form-action).
MOLLIE_CHECKOUT_ORIGIN = "https://www.mollie.com"
PAYFIP_CHECKOUT_ORIGIN = "https://www.payfip.gouv.fr"


def payment_checkout_origins() -> list[str]:
    """Where a payment form may lead: Mollie's and PayFiP's checkouts, and a fake server's own
    origin when an endpoint points at it (the demo, the tests)."""
    origins = [MOLLIE_CHECKOUT_ORIGIN, PAYFIP_CHECKOUT_ORIGIN]
    for setting, real in (
        ("MOLLIE_API_ENDPOINT", "api.mollie.com"),
        ("PAYFIP_ENDPOINT", "www.payfip.gouv.fr"),
    ):
        endpoint = urlsplit(getattr(settings, setting))
        if endpoint.hostname not in (None, real):
            origins.append(f"{endpoint.scheme}://{endpoint.netloc}")
    return list(dict.fromkeys(origins))


class FoyerCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the payment checkout added to form-action at request time
    (the fake Mollie server's port is only known once it runs)."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            directives = dict(settings.CONTENT_SECURITY_POLICY.get("DIRECTIVES", {}))
            if "form-action" in directives:
                update = dict(parts.update or {})
                update["form-action"] = [*update.get("form-action", []), *payment_checkout_origins()]
                parts.update = update
        return parts


class PermissionsPolicyMiddleware:
    """Turns off the browser features Foyer never uses (settings.FOYER_PERMISSIONS_POLICY)."""

    def __init__(self, get_response):
        self.get_response = get_response
        features = settings.FOYER_PERMISSIONS_POLICY
        self.header = ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in features.items())

    def __call__(self, request):
        response = self.get_response(request)
        if self.header and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.header
        return response
