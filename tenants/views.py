"""Public pages of a commune that are not the family portal's: its logo (public branding,
streamed from storage since media files are not served) and its legal mentions. Both stay
reachable before the commune opens to families (tenants.middleware)."""

from __future__ import annotations

import hashlib
from pathlib import PurePath

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def logo_version(commune) -> str:
    """Changes with each new logo (a new file name each time): the ``v`` of its address."""
    return hashlib.sha256(commune.logo.name.encode()).hexdigest()[:12] if commune.logo else ""


@require_safe
def logo(request: HttpRequest) -> HttpResponse:
    commune = request.commune
    content_type = LOGO_TYPES.get(PurePath(commune.logo.name).suffix.lower()) if commune.logo else None
    if content_type is None:
        raise Http404
    version = logo_version(commune)
    etag = f'"{version}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        try:
            stream = commune.logo.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        response = FileResponse(stream, content_type=content_type)
    response["ETag"] = etag
    # The address the pages use carries the version: such a copy never needs checking again.
    if request.GET.get("v") == version:
        patch_cache_control(response, public=True, max_age=365 * 24 * 3600, immutable=True)
    else:
        patch_cache_control(response, public=True, max_age=300)
    return response


@require_safe
def legal_mentions(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/legal_mentions.html")
