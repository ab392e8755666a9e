"""The login e-mail: a new address is confirmed from that address (a link valid 24 h),
and the old one is told."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer import rate_limits
from foyer.errors import FoyerError

from .. import notifications
from ..models import (
    EMAIL_CHANGE_LIFETIME,
    Account,
    EmailChange,
    Guardian,
    normalize_email,
)
from ..selectors import (
    get_account_by_email,
    get_email_change_for_token,
)
from ..tokens import new_token
from .inputs import check_email_into, invalid


def request_email_change(*, actor: Account, new_email: str, password: str) -> EmailChange:
    """Ask to sign in with another address: a one-time link (24 h) goes to the new address;
    nothing changes until it is opened. Asking again replaces the previous link."""
    new_email = normalize_email(new_email)
    errors: dict[str, list[str]] = {}
    if not actor.check_password(password or ""):
        errors.setdefault("password", []).append(_("Mot de passe incorrect."))
    check_email_into(errors, "new_email", new_email)
    if not errors.get("new_email"):
        if new_email == normalize_email(actor.email):
            errors.setdefault("new_email", []).append(_("C'est déjà l'adresse de votre compte."))
        elif _guardian_email_clash(actor, new_email):
            errors.setdefault("new_email", []).append(
                _("Cette adresse est déjà celle d'un autre responsable de votre famille.")
            )
    if errors:
        raise invalid(_("L'adresse e-mail n'a pas été changée : corrigez les erreurs."), errors)
    if not rate_limits.email_allowed("email_change", new_email):
        raise FoyerError(
            "throttled",
            _(
                "Un e-mail vient de partir vers cette adresse : attendez quelques minutes avant de redemander."
            ),
            status=429,
            extra={"fields": {"new_email": [_("Un e-mail vient de partir vers cette adresse.")]}},
        )
    # Whether another account has the address is told to the address, never to the asker: the
    # page and the pending change look the same; that address gets an e-mail without a link.
    taken = get_account_by_email(new_email) is not None
    token, token_hash = new_token()
    now = timezone.now()
    with transaction.atomic(durable=True):
        Account.objects.select_for_update().filter(pk=actor.pk).first()
        EmailChange.objects.filter(account=actor, used_at__isnull=True).delete()
        change = EmailChange.objects.create(
            account=actor, new_email=new_email, token_hash=token_hash, expires_at=now + EMAIL_CHANGE_LIFETIME
        )
        if taken:
            notifications.send_after_commit("email_change_taken", {}, to=[new_email])
        else:
            notifications.send_after_commit(
                "email_change_confirm",
                {
                    "account": actor,
                    "change": change,
                    "link": settings.FOYER_BASE_URL
                    + reverse("portal:email_change_confirm", kwargs={"token": token}),
                },
                to=[new_email],
            )
    return change


def _guardian_email_clash(account: Account, email: str) -> bool:
    return (
        Guardian.objects.filter(family__guardians__account=account, email__iexact=email)
        .exclude(account=account)
        .exists()
    )


def confirm_email_change(*, token: str) -> Account:
    """The link from the new address was opened: the account signs in with it from now on, and
    the old address is told."""
    with transaction.atomic(durable=True):
        change = get_email_change_for_token(token=token, lock=True)
        account = Account.objects.select_for_update().get(pk=change.account_id)
        if not account.is_active:
            raise FoyerError("invalid_link", _("Ce lien n'est pas valide."), status=404)
        if get_account_by_email(change.new_email) is not None or _guardian_email_clash(
            account, change.new_email
        ):
            raise FoyerError(
                "email_taken",
                _(
                    "Cette adresse est devenue celle d'un autre compte Foyer entre-temps : "
                    "votre adresse de connexion n'a pas changé."
                ),
                status=409,
            )
        old_email = account.email
        account.email = change.new_email
        try:
            with transaction.atomic():
                account.save(update_fields=["email"])
        except IntegrityError as exc:
            raise FoyerError(
                "email_taken",
                _("Cette adresse est déjà celle d'un autre compte Foyer : votre adresse n'a pas changé."),
                status=409,
            ) from exc
        Guardian.objects.filter(account=account).update(email=change.new_email)
        change.used_at = timezone.now()
        change.save(update_fields=["used_at"])
        notifications.send_after_commit(
            "email_changed", {"account": account, "old_email": old_email}, to=[old_email]
        )
    return account


def cancel_email_change(*, actor: Account) -> None:
    EmailChange.objects.filter(account=actor, used_at__isnull=True).delete()
