"""The address a request comes from, for rate limits and the audit log.

Behind the proxy (deploy/nginx.conf), the peer is the proxy: the proxy writes the client's
address in a header, and ``FOYER_TRUSTED_PROXY_HEADER`` names it (``X-Real-IP``). Without that
setting the header is never read, so a client cannot choose its own address by sending it.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address, or None when the request carries no valid one."""
    header = getattr(settings, "FOYER_TRUSTED_PROXY_HEADER", "")
    candidates = []
    if header:
        # X-Forwarded-For style lists: the proxy appends the address it saw, so the last is its own.
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        candidates.append(value.rsplit(",", 1)[-1].strip())
    candidates.append(request.META.get("REMOTE_ADDR", ""))
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
