"""Writes of the console's billing pages beyond billing.services: the commune's régies, each
with its Mollie API key checked, then stored encrypted and never shown back, or its PayFiP
client number checked with PayFiP."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.uploads import validate_image
from shared_identity.tokens import api_key_name

from .crypto import encrypt_secret
from .models import PayfipMode, PaymentProvider, Regie, RegieApiToken, hash_token

MOLLIE_KEY_RE = re.compile(r"^(test|live)_\w{30,}$", re.ASCII)
NUMCLI_RE = re.compile(r"^[0-9]{6}$", re.ASCII)


def check_payfip_client(numcli: str, *, saisie: str) -> None:
    """Refuse a client number PayFiP does not know (its ``recupererDetailClient``)."""
    from .gateway import ProviderRefused, ProviderUnavailable
    from .payfip import PayfipGateway

    def refuse(message: str) -> FoyerError:
        return FoyerError(
            "invalid_payfip_client",
            _("Le numéro client PayFiP n'est pas valable."),
            extra={"fields": {"payfip_numcli": [message]}},
        )

    try:
        PayfipGateway(numcli=numcli, saisie=saisie).check_client()
    except ProviderRefused as exc:
        raise refuse(
            _("PayFiP ne connaît pas ce numéro client : vérifiez-le sur la convention d'adhésion à PayFiP.")
        ) from exc
    except ProviderUnavailable as exc:
        raise refuse(
            _("PayFiP ne répond pas : le numéro client n'a pas pu être vérifié, réessayez dans un instant.")
        ) from exc


def check_mollie_key(key: str) -> None:
    """Refuse a key that is not a Mollie API key, or that Mollie does not accept (a cheap
    authenticated call with it). Called before the settings row is locked."""
    from .gateway import MollieGateway, ProviderRefused, ProviderUnavailable

    def refuse(message: str) -> FoyerError:
        return FoyerError(
            "invalid_mollie_key",
            _("La clé API Mollie n'est pas valable."),
            extra={"fields": {"mollie_key": [message]}},
        )

    if not MOLLIE_KEY_RE.fullmatch(key):
        raise refuse(
            _(
                "Une clé API Mollie commence par « test_ » ou « live_ », suivi d'au moins 30 lettres ou chiffres."
            )
        )
    try:
        MollieGateway(key).check_key()
    except ProviderRefused as exc:
        raise refuse(_("Mollie refuse cette clé : vérifiez-la dans votre tableau de bord Mollie.")) from exc
    except ProviderUnavailable as exc:
        raise refuse(
            _("Mollie ne répond pas : la clé n'a pas pu être vérifiée, réessayez dans un instant.")
        ) from exc


def save_regie(
    *,
    regie_id: int | None = None,
    name: str,
    regie_code: str,
    source: str = Regie.Source.FOYER,
    due_days: int,
    reference_format: str = "",
    invoicing_day: int,
    online_payment: bool,
    mollie_key: str = "",
    payment_provider: str = PaymentProvider.MOLLIE,
    payfip_numcli: str = "",
    payfip_saisie: str = PayfipMode.TEST,
    address: str = "",
    direct_debit_enabled: bool = False,
    actor=None,
    now: dt.datetime | None = None,
) -> Regie:
    """A commune admin creates a régie (no id) or changes one. An empty ``mollie_key`` keeps
    the stored one; online payment cannot be switched on without what the chosen provider
    needs (a Mollie key; a PayFiP client number, which PayFiP must know). Everything is
    refused at once, with every field to correct, or saved at once."""
    mollie_key = mollie_key.strip()
    payfip_numcli = payfip_numcli.strip()
    errors: dict[str, list[str]] = {}
    if mollie_key:
        try:
            check_mollie_key(mollie_key)
        except FoyerError as error:
            errors.update(error.field_errors or {"mollie_key": [error.message]})
    stored = (
        Regie.objects.filter(pk=regie_id).values_list("payfip_numcli", flat=True).first()
        if regie_id
        else None
    )
    if (
        payment_provider == PaymentProvider.PAYFIP
        and NUMCLI_RE.fullmatch(payfip_numcli)
        and payfip_numcli != stored
    ):
        try:
            check_payfip_client(payfip_numcli, saisie=payfip_saisie)
        except FoyerError as error:
            errors.update(error.field_errors)
    with transaction.atomic(durable=True):
        if regie_id is None:
            regie = Regie()
        else:
            regie = Regie.objects.select_for_update().filter(pk=regie_id).first()
            if regie is None:
                raise NotFound(_("Cette régie n'existe pas."))
        regie.name = name.strip()
        regie.regie_code = regie_code.strip().upper()
        regie.source = source
        regie.reference_format = reference_format.strip() or regie.reference_format
        regie.due_days = due_days
        regie.invoicing_day = invoicing_day
        regie.online_payment = online_payment
        regie.payment_provider = payment_provider
        regie.payfip_numcli = payfip_numcli
        regie.payfip_saisie = payfip_saisie
        regie.address = (address or "").strip()
        regie.direct_debit_enabled = direct_debit_enabled
        try:
            regie.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if Regie.objects.filter(regie_code=regie.regie_code).exclude(pk=regie.pk).exists():
            errors.setdefault("regie_code", []).append(_("Une autre régie de la commune a déjà ce code."))
        if regie.payfip:
            if online_payment and not payfip_numcli:
                errors.setdefault("payfip_numcli", []).append(
                    _("Indiquez le numéro client PayFiP de la régie pour activer le paiement en ligne.")
                )
        elif online_payment and not (mollie_key or regie.mollie_key_encrypted):
            errors.setdefault("online_payment", []).append(
                _("Enregistrez d'abord une clé API Mollie pour activer le paiement en ligne.")
            )
        if direct_debit_enabled and regie.payfip:
            errors.setdefault("direct_debit_enabled", []).append(
                _("Le prélèvement automatique passe par Mollie : PayFiP ne le propose pas dans Foyer.")
            )
        elif direct_debit_enabled and not online_payment:
            errors.setdefault("direct_debit_enabled", []).append(
                _("Activez d'abord le paiement en ligne avec Mollie : le prélèvement automatique en dépend.")
            )
        if errors:
            raise FoyerError("invalid", _("La régie n'a pas été enregistrée."), extra={"fields": errors})
        if mollie_key:
            regie.mollie_key_encrypted = encrypt_secret(mollie_key)
            regie.mollie_mode = mollie_key.split("_", 1)[0]
            regie.mollie_checked_at = now or timezone.now()
        regie.saved_at = now or timezone.now()
        regie.save()
    return regie


# A scanned signature is printed about 5 cm wide: a few hundred kilobytes is plenty.
SIGNATURE_MAX_BYTES = 500 * 1024
SIGNATURE_MAX_PIXELS = 2000


def set_regie_signature(*, regie_id: int, upload=None, remove: bool = False, actor=None) -> Regie:
    """The régisseur's scanned signature printed on the attestations (PNG or JPEG, checked from
    its content, stored privately under the commune's schema), or none (``remove``). A refused
    file changes nothing; a replaced file is deleted once the change is committed."""
    if upload is None and not remove:
        raise FoyerError(
            "invalid",
            _("La signature n'a pas été enregistrée."),
            extra={"fields": {"signature": [_("Choisissez l'image de la signature.")]}},
        )
    extension = ""
    if upload is not None:
        try:
            extension = validate_image(upload, max_bytes=SIGNATURE_MAX_BYTES, max_pixels=SIGNATURE_MAX_PIXELS)
        except FoyerError as error:
            raise FoyerError(
                "invalid",
                _("La signature n'a pas été enregistrée."),
                extra={"fields": {"signature": [error.message]}},
            ) from None
    stored = ""
    try:
        with transaction.atomic(durable=True):
            regie = Regie.objects.select_for_update().filter(pk=regie_id).first()
            if regie is None:
                raise NotFound(_("Cette régie n'existe pas."))
            previous = regie.signature.name
            if upload is not None:
                regie.signature.save(f"signature{extension}", upload, save=False)
                stored = regie.signature.name
            else:
                regie.signature = ""
            regie.save(update_fields=["signature"])
            if previous and previous != regie.signature.name:
                storage = regie.signature.storage
                transaction.on_commit(lambda: storage.delete(previous))
    except BaseException:
        if stored:
            Regie._meta.get_field("signature").storage.delete(stored)
        raise
    return regie


TOKEN_PREFIX = "foyer_rt_"


def create_api_token(*, regie_id: int, name: str, actor=None) -> tuple[RegieApiToken, str]:
    """A key for the commune's billing software, scoped to one régie; the key itself is
    returned once and only its hash is kept."""
    regie = Regie.objects.filter(pk=regie_id).first()
    if regie is None:
        raise NotFound(_("Cette régie n'existe pas."))
    name = api_key_name(name)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = RegieApiToken.objects.create(
        regie=regie, name=name, prefix=raw[:12], key_hash=hash_token(raw), created_by=actor
    )
    return token, raw


def revoke_api_token(
    *, regie_id: int, token_id: int, actor=None, now: dt.datetime | None = None
) -> RegieApiToken:
    token = RegieApiToken.objects.filter(pk=token_id, regie_id=regie_id).first()
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
