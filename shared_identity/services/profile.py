"""The family profile shared by all communes: the guardian's own details, the family's
name and phones, the calendar link and the e-mail preferences."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from ..models import (
    Account,
    Family,
    Guardian,
)
from ..selectors import (
    NOTIFICATION_FIELDS,
    get_family_for_account,
)
from .inputs import check_max_length_into, check_phone_into, invalid, require


def rotate_calendar_token(*, family: Family) -> str:
    """Give the family's calendar feed a new private address; the old one stops working."""
    import secrets

    token = secrets.token_urlsafe(32)
    Family.objects.filter(pk=family.pk).update(ical_token=token)
    return token


def revoke_calendar_token(*, family: Family) -> None:
    Family.objects.filter(pk=family.pk).update(ical_token=None)


def set_notification_preferences(*, account: Account, preferences: dict[str, bool]) -> Account:
    """Turn each kind of e-mail on or off ("invoice", "request", "reminder", "news"); kinds not
    given keep their value."""
    unknown = set(preferences) - set(NOTIFICATION_FIELDS)
    if unknown:
        raise invalid(
            _("Préférence inconnue."),
            {kind: [_("Ce type d'e-mail n'existe pas.")] for kind in sorted(unknown)},
        )
    values = {NOTIFICATION_FIELDS[kind]: bool(enabled) for kind, enabled in preferences.items()}
    if values:
        Account.objects.filter(pk=account.pk).update(**values)
        for field, value in values.items():
            setattr(account, field, value)
    return account


def update_my_identity(
    *, actor: Account, first_name: str | None = None, last_name: str | None = None, phone: str | None = None
) -> Account:
    """The signed-in guardian's own name and mobile phone (each guardian edits only their own).
    A field left at None keeps its value. Copied onto their guardian rows in every family."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for field, value, limit in (("first_name", first_name, 100), ("last_name", last_name, 100)):
        if value is not None:
            require(errors, field, value)
            check_max_length_into(errors, field, value.strip(), limit)
            values[field] = value.strip()
    if phone is not None:
        values["phone"] = check_phone_into(errors, "phone", phone)
    if errors:
        raise invalid(_("Vos informations n'ont pas été enregistrées : corrigez les erreurs."), errors)
    if not values:
        return actor
    with transaction.atomic(durable=True):
        Account.objects.filter(pk=actor.pk).update(**values)
        Guardian.objects.filter(account=actor).update(**values)
    for field, value in values.items():
        setattr(actor, field, value)
    return actor


def update_family(
    *, actor: Account, family_id: int, name: str | None = None, home_phone: str | None = None
) -> Family:
    """The family's name and home phone, seen by every commune of the family. The address has
    its own command (it needs a proof)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    if name is not None:
        require(errors, "name", name)
        check_max_length_into(errors, "name", name.strip(), 150)
        values["name"] = name.strip()
    if home_phone is not None:
        values["home_phone"] = check_phone_into(errors, "home_phone", home_phone)
    if errors:
        raise invalid(_("La famille n'a pas été modifiée : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = get_family_for_account(actor, family_id, lock=True)
        for field, value in values.items():
            setattr(family, field, value)
        if values:
            family.save(update_fields=list(values))
    return family
