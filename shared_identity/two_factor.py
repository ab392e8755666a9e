"""Two-factor authentication of accounts (django-otp): one TOTP device (an authenticator app)
and one set of single-use backup codes per account, both in the public schema.

Services (writes) and selectors (reads) for devices. Every check of a code goes through
``verify_second_factor`` or ``confirm_totp_setup``, which honour django-otp's throttling: each
failure doubles the wait before the next attempt, and that counter is committed even when the
code is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from foyer.errors import FoyerError

from .models import Account, StaffRole

BACKUP_CODE_COUNT = 10
_TOTP_CODE = re.compile(r"^\d{6}$")
_SEPARATORS = re.compile(r"[\s-]+")


# --- Selectors ----------------------------------------------------------------------------------


def get_totp_device(account: Account) -> TOTPDevice | None:
    """The account's confirmed authenticator app, if two-factor authentication is on."""
    if not account.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=account, confirmed=True).order_by("pk").first()


def has_two_factor(account: Account) -> bool:
    if not account.is_authenticated:
        return False
    return TOTPDevice.objects.filter(user=account, confirmed=True).exists()


def get_staff_role_with_two_factor(account: Account, commune) -> StaffRole | None:
    """The account's staff role in the commune, with ``account_has_two_factor``, in one query
    (the console asks both before every page)."""
    if not account.is_authenticated:
        return None
    confirmed = TOTPDevice.objects.filter(user=OuterRef("account"), confirmed=True)
    return (
        StaffRole.objects.filter(account=account, commune=commune)
        .annotate(account_has_two_factor=Exists(confirmed))
        .first()
    )


def two_factor_account_ids(account_ids: Iterable[int]) -> set[int]:
    """Which of these accounts have two-factor authentication on, in one query."""
    return set(
        TOTPDevice.objects.filter(user_id__in=list(account_ids), confirmed=True).values_list(
            "user_id", flat=True
        )
    )


def backup_codes_left(account: Account) -> int:
    return StaticToken.objects.filter(device__user=account, device__confirmed=True).count()


def communes_requiring_two_factor(account: Account) -> list:
    """The communes whose staff the account belongs to and that require two-factor auth."""
    roles = StaffRole.objects.filter(account=account, commune__require_staff_2fa=True).select_related(
        "commune"
    )
    return [role.commune for role in roles.order_by("commune__name")]


def may_use_two_factor(account: Account) -> bool:
    """Staff of a commune and platform operators; anyone who already has it may manage it."""
    if not account.is_authenticated:
        return False
    return (
        account.is_platform_operator
        or StaffRole.objects.filter(account=account).exists()
        or TOTPDevice.objects.filter(user=account).exists()
    )


def totp_secret(device: TOTPDevice) -> str:
    """The secret in base32, by groups of four, for typing it into an app by hand."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def format_backup_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


# --- Services -----------------------------------------------------------------------------------


def start_totp_setup(*, account: Account) -> TOTPDevice:
    """The unconfirmed device whose secret the account scans; the same one until it is confirmed."""
    with transaction.atomic(durable=True):
        Account.objects.select_for_update().filter(pk=account.pk).first()
        if TOTPDevice.objects.filter(user=account, confirmed=True).exists():
            raise _already_on()
        device = TOTPDevice.objects.filter(user=account, confirmed=False).order_by("-pk").first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=account, name=_("Application d'authentification"), confirmed=False
            )
    return device


def confirm_totp_setup(*, account: Account, token: str) -> tuple[TOTPDevice, list[str]]:
    """Turn two-factor authentication on once the account proves its app shows the right code.

    Returns the device and the backup codes, which are shown once and never again."""
    token = _normalize(token)
    codes: list[str] = []
    with transaction.atomic(durable=True):
        if TOTPDevice.objects.filter(user=account, confirmed=True).exists():
            raise _already_on()
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=account, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise FoyerError(
                "setup_missing",
                _("La mise en place a expiré : scannez à nouveau le QR code affiché."),
                status=409,
            )
        allowed, throttle = device.verify_is_allowed()
        verified = allowed and device.verify_token(token)  # a failure is counted and committed
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=account, confirmed=False).delete()
            codes = _replace_backup_codes(account)
    if not allowed:
        raise _throttled(throttle)
    if not verified:
        raise _wrong_code()
    return device, codes


def verify_second_factor(*, account: Account, token: str) -> Device:
    """The device (authenticator app or backup codes) that accepts this code.

    A backup code works once. While the account is throttled (after wrong codes), every code is
    refused, right or wrong, until the wait is over."""
    token = _normalize(token)
    locked_until = None
    verified: Device | None = None
    with transaction.atomic(durable=True):
        totp = TOTPDevice.objects.select_for_update().filter(user=account, confirmed=True).first()
        backup = StaticDevice.objects.select_for_update().filter(user=account, confirmed=True).first()
        devices = [device for device in (totp, backup) if device is not None]
        if totp is None:
            raise FoyerError(
                "two_factor_off", _("La double authentification n'est pas activée sur ce compte."), status=409
            )
        for device in devices:
            allowed, throttle = device.verify_is_allowed()
            if not allowed:
                until = throttle["locked_until"]
                locked_until = until if locked_until is None else max(locked_until, until)
        if locked_until is None:
            # Six digits: the app; anything else: a backup code (or a mistake, counted on the app).
            device = totp if _TOTP_CODE.match(token) or backup is None else backup
            if device.verify_token(token):
                verified = device
    if locked_until is not None:
        raise _throttled({"locked_until": locked_until})
    if verified is None:
        raise _wrong_code()
    return verified


def regenerate_backup_codes(*, account: Account) -> list[str]:
    """A new set of backup codes; the previous ones stop working."""
    with transaction.atomic(durable=True):
        if not TOTPDevice.objects.select_for_update().filter(user=account, confirmed=True).exists():
            raise FoyerError(
                "two_factor_off", _("La double authentification n'est pas activée sur ce compte."), status=409
            )
        return _replace_backup_codes(account)


def disable_two_factor(*, account: Account, password: str, token: str) -> None:
    """Turn two-factor authentication off: the password and a current code are both required."""
    if not password or not account.check_password(password):
        raise FoyerError(
            "wrong_password",
            _("La double authentification est toujours active."),
            extra={"fields": {"password": [_("Mot de passe incorrect.")]}},
        )
    verify_second_factor(account=account, token=token)
    with transaction.atomic(durable=True):
        TOTPDevice.objects.filter(user=account).delete()
        StaticDevice.objects.filter(user=account).delete()


def reset_two_factor(*, account: Account) -> bool:
    """A platform operator's recovery for someone who lost both their phone and their backup
    codes, once their identity has been checked outside Foyer: the devices are removed and
    every session of the account is closed, so the next sign-in sets a new device up (a
    commune that requires it asks at once). Returns whether anything was removed."""
    from django.contrib.sessions.models import Session

    with transaction.atomic(durable=True):
        removed = TOTPDevice.objects.filter(user=account).delete()[0]
        removed += StaticDevice.objects.filter(user=account).delete()[0]
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            if str(session.get_decoded().get("_auth_user_id")) == str(account.pk):
                session.delete()
    return bool(removed)


# --- Helpers ------------------------------------------------------------------------------------


def _normalize(token: str) -> str:
    return _SEPARATORS.sub("", token or "").lower()


def _replace_backup_codes(account: Account) -> list[str]:
    StaticDevice.objects.filter(user=account).delete()
    device = StaticDevice.objects.create(user=account, name=_("Codes de secours"), confirmed=True)
    codes: list[str] = []
    while len(codes) < BACKUP_CODE_COUNT:
        code = StaticToken.random_token()
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _already_on() -> FoyerError:
    return FoyerError(
        "two_factor_on", _("La double authentification est déjà activée sur ce compte."), status=409
    )


def _wrong_code() -> FoyerError:
    return FoyerError(
        "wrong_code",
        _("Ce code n'est pas valable."),
        extra={
            "fields": {
                "code": [
                    _(
                        "Code incorrect ou expiré. Saisissez le code à 6 chiffres affiché maintenant par "
                        "votre application (vérifiez l'heure du téléphone), ou un code de secours."
                    )
                ]
            }
        },
    )


def _throttled(throttle: dict | None) -> FoyerError:
    locked_until = (throttle or {}).get("locked_until")
    seconds = 1
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    message = ngettext(
        "Trop de codes erronés : par sécurité, patientez %(seconds)s seconde avant de réessayer.",
        "Trop de codes erronés : par sécurité, patientez %(seconds)s secondes avant de réessayer.",
        seconds,
    ) % {"seconds": seconds}
    return FoyerError("throttled", message, status=429, extra={"fields": {"code": [message]}})
