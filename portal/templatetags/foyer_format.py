from django import template

from foyer.formatting import format_money

register = template.Library()


@register.filter
def money(value) -> str:
    """{{ amount|money }} → "115,20 €"."""
    return format_money(value) if value not in (None, "") else ""
