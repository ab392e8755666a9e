"""Rate limits other than sign-in failures (``shared_identity.login_limits``): how many e-mails
an address receives, how many requests a family files, how fast the API is called.

The counters live in the ``limits`` cache (Redis), one namespace for the whole platform (not
per commune). A limit is a protection, never a dependency: when Redis does not answer, the
action goes through (and the failure is logged) rather than failing for the family.
"""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework import throttling

from .client_address import client_ip

LIMITS_CACHE = "limits"
logger = logging.getLogger(__name__)

# The same e-mail to the same address (password reset, e-mail change): once every 5 minutes.
EMAIL_INTERVAL_SECONDS = 5 * 60
# Requests (demandes) filed by one account, on the pages and the API alike.
REQUESTS_PER_HOUR = 20
REQUESTS_WINDOW_SECONDS = 3600


def take(key: str, *, limit: int, seconds: int) -> bool:
    """Count one use of ``key``: True while at most ``limit`` uses fell in the current window
    of ``seconds`` (which starts at the first use), False beyond."""
    cache = caches[LIMITS_CACHE]
    try:
        if cache.add(key, 1, seconds):
            return True
        return cache.incr(key) <= limit
    except ValueError:  # the window ended between add and incr
        return take(key, limit=limit, seconds=seconds)
    except Exception:  # Redis unreachable: let it through
        logger.warning("rate limit %s not checked: the limits cache does not answer", key, exc_info=True)
        return True


def email_allowed(kind: str, address: str) -> bool:
    """May e-mail ``kind`` go to ``address`` now (at most one every 5 minutes)?"""
    return take(f"email:{kind}:{address.strip().lower()}", limit=1, seconds=EMAIL_INTERVAL_SECONDS)


def request_submission_allowed(account_id: int) -> bool:
    return take(f"demandes:{account_id}", limit=REQUESTS_PER_HOUR, seconds=REQUESTS_WINDOW_SECONDS)


# --- The API's throttles (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]) -----------------------------


class _PlatformThrottle:
    """DRF's throttles on the ``limits`` cache, keyed by the client's real address, failing open."""

    cache = ConnectionProxy(caches, LIMITS_CACHE)

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("API throttle not checked: the limits cache does not answer", exc_info=True)
            return True


class UserThrottle(_PlatformThrottle, throttling.UserRateThrottle):
    """Per account (or per address when signed out), every API call."""


class AnonThrottle(_PlatformThrottle, throttling.AnonRateThrottle):
    """Signed-out calls, per address."""
