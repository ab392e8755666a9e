"""Which part of the site a page belongs to, so that the menu marks it (aria-current)."""

from __future__ import annotations

from django import template

register = template.Library()

# namespace or "namespace:url_name" → the menu entry it belongs to
SECTIONS = {
    "portal:dashboard": "home",
    "commune:home": "home",
    "portal:week": "week",
    "portal:period": "week",
    "commune:cancellation_request": "week",
    "commune:booking_cancel": "week",
    "portal:cart": "cart",
    "portal:cart_validated": "cart",
    "commune:cart_checkout": "cart",
    "portal:invoices": "invoices",
    "portal:invoices_pay": "invoices",
    "portal:attestations": "invoices",
    "commune:invoice_detail": "invoices",
    "commune:payment_return": "invoices",
    "demandes": "requests",
    "commune_demandes": "requests",
    "actualites": "news",
    "commune_actualites": "news",
    "operators": "operator",
    "console": "console",
}
ACCOUNT_PAGES = (
    "account",
    "profile",
    "email_change",
    "data_export",
    "two_factor",
    "password_change",
    "calendar",
)


@register.simple_tag(takes_context=True)
def current_section(context) -> str:
    match = getattr(context.get("request"), "resolver_match", None)
    if match is None:
        return ""
    section = SECTIONS.get(match.view_name) or SECTIONS.get(match.namespace, "")
    if not section and match.namespace == "portal" and match.url_name.startswith(ACCOUNT_PAGES):
        section = "account"
    return section
