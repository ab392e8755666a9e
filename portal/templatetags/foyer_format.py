import re

from django import template
from django.template.defaultfilters import date
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from foyer.formatting import format_money

register = template.Library()


@register.filter
def money(value) -> str:
    """{{ amount|money }} → "115,20 €"."""
    return format_money(value) if value not in (None, "") else ""


@register.filter
def due_label(invoice, today) -> str:
    """{{ invoice|due_label:today }} → "12 jours avant échéance" / "échue"."""
    return invoice.due_label(today)


@register.filter(expects_localtime=True)
def date_fr(value, arg: str) -> str:
    """Django's ``date`` filter, with the French ordinal of the first day of a month and the
    French time: {{ day|date_fr:"l j F" }} → "lundi 1er février", "mardi 2 février";
    {{ when|date_fr:"j F Y à H:i" }} → "2 février 2027 à 01h16" (never "01:16")."""
    if value in (None, ""):
        return ""
    arg = re.sub(r"H:i(?!:s)", r"H\\hi", arg)
    if getattr(value, "day", None) == 1:
        arg = re.sub(r"(?<!\\)j", r"j\\e\\r", arg)
    return date(value, arg)


# Colours reach pages without inline style attributes (the Content-Security-Policy forbids them).
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def swatch_svg(colour: str) -> SafeString:
    """A colour square drawn as SVG: its fill is an attribute, not a style."""
    fill = colour if _COLOUR.match(colour or "") else "#6b7280"
    return mark_safe(  # noqa: S308 - the fill is a checked #rrggbb
        '<svg class="swatch" viewBox="0 0 12 12" aria-hidden="true" focusable="false">'
        f'<rect width="12" height="12" rx="3" fill="{fill}"/></svg>'
    )


@register.simple_tag
def swatch(colour: str) -> SafeString:
    """{% swatch prestation.colour %}"""
    return swatch_svg(colour)


@register.simple_tag(takes_context=True)
def brand_style(context, colour: str) -> SafeString:
    """{% brand_style commune.brand_colour %} before an element marked ``data-brand="{{ colour }}"``:
    a style element with the request's nonce sets ``--brand`` on it (once a colour per page)."""
    request = context.get("request")
    if request is None or not _COLOUR.match(colour or ""):
        return SafeString("")
    seen = request.__dict__.setdefault("_foyer_brand_colours", set())
    if colour in seen:
        return SafeString("")
    seen.add(colour)
    nonce = getattr(request, "csp_nonce", "")
    return format_html(
        '<style nonce="{}">[data-brand="{}"] {{ --brand: {}; }}</style>', nonce, colour, colour
    )
