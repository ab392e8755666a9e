"""Select the commune of a request from its path (/c/<slug>/...) and fail loudly otherwise.

One host serves every commune, so a family's session covers all of them: a parent who
signed in never signs in again in another commune. A custom domain of a commune redirects
to its address on the platform.
"""

from __future__ import annotations

import functools
from importlib import import_module
from types import ModuleType

from django.conf import settings
from django.db import connection
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import include, path, set_urlconf

from .selectors import get_commune_by_slug, get_commune_for_host

PREFIX = f"/{settings.FOYER_COMMUNE_PREFIX}/"


@functools.lru_cache(maxsize=2048)
def commune_urlconf(slug: str) -> ModuleType:
    """The URLConf of one commune: its pages under /c/<slug>/, plus the public pages, so
    that reverse() works for both without passing the slug around. Both URLConfs are named
    by the settings (ROOT_URLCONF, FOYER_COMMUNE_URLCONF), as Django names its own."""
    public_urls = import_module(settings.ROOT_URLCONF)
    module = ModuleType(f"foyer.urls_commune__{slug}")
    module.urlpatterns = [
        path(f"{settings.FOYER_COMMUNE_PREFIX}/{slug}/", include(settings.FOYER_COMMUNE_URLCONF)),
        *public_urls.urlpatterns,
    ]
    for handler in ("handler400", "handler403", "handler404", "handler500"):
        if hasattr(public_urls, handler):
            setattr(module, handler, getattr(public_urls, handler))
    return module


def _platform_hosts() -> frozenset[str]:
    return frozenset({settings.FOYER_BASE_DOMAIN, "localhost", "127.0.0.1", "testserver", "[::1]"})


class CommuneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.platform_hosts = _platform_hosts()

    def __call__(self, request):
        connection.set_schema_to_public()
        request.commune = None
        request.tenant = None
        try:
            if request.path_info.startswith(PREFIX):
                slug = request.path_info[len(PREFIX) :].split("/", 1)[0]
                commune = get_commune_by_slug(slug) if slug else None
                if commune is None:
                    return render(request, "tenants/commune_not_found.html", {"slug": slug}, status=404)
                request.commune = request.tenant = commune
                connection.set_tenant(commune)
                request.urlconf = commune_urlconf(commune.slug)
                set_urlconf(request.urlconf)
            else:
                host = request.get_host().split(":", 1)[0].lower()
                if host not in self.platform_hosts:
                    commune = get_commune_for_host(host)
                    if commune is not None:
                        target = (
                            settings.FOYER_BASE_URL
                            + commune.path_prefix
                            + request.get_full_path().lstrip("/")
                        )
                        return HttpResponsePermanentRedirect(target)
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()
