from django import template
from django.urls import reverse

from tenants.middleware import commune_urlconf

register = template.Library()


@register.simple_tag
def commune_url(commune, name: str, *args) -> str:
    """The URL of a commune's page from anywhere (a family page lists several communes).
    ``commune`` is a Commune or its slug."""
    return reverse(name, args=args, urlconf=commune_urlconf(getattr(commune, "slug", commune)))


@register.simple_tag
def commune_logo_url(commune) -> str:
    """The address of a commune's logo, versioned so that browsers keep it cached until it
    changes ("" when it has none)."""
    from tenants.views import logo_version

    if not getattr(commune, "logo", None):
        return ""
    return f"{commune_url(commune, 'commune:logo')}?v={logo_version(commune)}"
