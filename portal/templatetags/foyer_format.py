from django import template

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
