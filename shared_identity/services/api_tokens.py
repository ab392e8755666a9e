"""Personal API keys: other software uses the family API in the account's name."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound

from ..models import Account, PersonalApiToken
from ..tokens import api_key_name, hash_token


def create_personal_api_token(*, actor: Account, name: str) -> tuple[PersonalApiToken, str]:
    """A new key for ``actor``; the key itself is returned once, only its hash is kept."""
    name = api_key_name(name)
    with transaction.atomic(durable=True):
        # Lock the account row so that two requests cannot both pass the limit.
        Account.objects.select_for_update().filter(pk=actor.pk).first()
        live = PersonalApiToken.objects.filter(account=actor, revoked_at__isnull=True).count()
        if live >= PersonalApiToken.MAX_LIVE:
            raise FoyerError(
                "too_many_tokens",
                _("Vous avez déjà %(count)d clés actives : révoquez-en une avant d'en créer une autre.")
                % {"count": live},
                status=409,
            )
        raw = PersonalApiToken.PREFIX + secrets.token_urlsafe(32)
        token = PersonalApiToken.objects.create(
            account=actor, name=name, prefix=raw[:13], key_hash=hash_token(raw)
        )
    return token, raw


def revoke_personal_api_token(
    *, actor: Account, token_id: int, now: dt.datetime | None = None
) -> PersonalApiToken:
    """Revoke one of ``actor``'s keys (revoking twice changes nothing); another account's key
    is not found."""
    token = PersonalApiToken.objects.filter(pk=token_id, account=actor).first()
    if token is None:
        raise NotFound(_("Cette clé n'existe pas."))
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
