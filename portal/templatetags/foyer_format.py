import re

from django import template
from django.template.defaultfilters import date

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
