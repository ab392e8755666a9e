"""Sign-in failures: 10 wrong passwords for one account, or 50 from one address, lock that
account or that address for 15 minutes; the lock ends by itself.

django-axes counts the failures (``AccessAttempt`` rows in the public schema, so a Redis outage
does not lift the limit) and refuses a locked sign-in before any password is checked
(``axes.backends.AxesBackend``, first of ``AUTHENTICATION_BACKENDS``). This module holds
Foyer's rules on top of it: the account is its e-mail in any case, the address is the client's
(``foyer.client_address``), and the two limits differ.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.db.models import Sum

from foyer.client_address import client_ip

from .models import normalize_email

ACCOUNT_FAILURE_LIMIT = 10  # settings.AXES_FAILURE_LIMIT
ADDRESS_FAILURE_LIMIT = 50
COOL_OFF_MINUTES = 15  # settings.AXES_COOLOFF_TIME


def username_of(request, credentials: dict | None) -> str | None:
    """The account a sign-in is for: its e-mail, as accounts store it."""
    value = (credentials or {}).get("username")
    return normalize_email(value) if isinstance(value, str) and value else None


def address_of(request) -> str:
    return client_ip(request) or ""


def forget_account_failures(email: str) -> None:
    """The account's failures are forgotten (its password was just reset): it is unlocked."""
    AccessAttempt.objects.filter(username=normalize_email(email)).delete()


class LoginLimitsHandler(AxesDatabaseHandler):
    """Axes' database handler with one limit per account and another per address.

    Axes compares one count with one limit (``AXES_FAILURE_LIMIT``): the count given here is the
    failures of the account, or those of the address scaled to the account's limit, whichever is
    higher; so the account locks at 10 and the address at 50."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        by_account, by_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        return max(by_account, by_address * ACCOUNT_FAILURE_LIMIT // ADDRESS_FAILURE_LIMIT)

    def user_logged_in(self, sender, request, user, **kwargs):
        # A successful sign-in forgets the account's failures, not the address's: one valid
        # account must not reset the count of an address trying many others.
        AccessAttempt.objects.filter(username=normalize_email(user.get_username())).delete()
