"""The onboarding summary of the console's home page: ``{% onboarding_summary as s %}`` gives
the checklist to an administrator while the commune is not open, None otherwise (no query
then: the commune and the role are already on the request)."""

from django import template

from shared_identity.models import StaffRole

register = template.Library()


@register.simple_tag(takes_context=True)
def onboarding_summary(context):
    from console.onboarding import get_onboarding_checklist

    request = context.get("request")
    commune = getattr(request, "commune", None)
    role = getattr(request, "staff_role", None)
    if commune is None or commune.is_open or role is None or role.role != StaffRole.Role.ADMIN:
        return None
    return get_onboarding_checklist(commune=commune)
