"""``{% two_factor_status request.user as tfa %}``: the account's two-factor state, for the
"Sécurité" section of "Mon compte"."""

from django import template

from shared_identity import two_factor

register = template.Library()


@register.simple_tag
def two_factor_status(account) -> dict:
    if not two_factor.may_use_two_factor(account):
        return {"available": False, "enabled": False, "required_by": []}
    return {
        "available": True,
        "enabled": two_factor.has_two_factor(account),
        "required_by": two_factor.communes_requiring_two_factor(account),
    }
