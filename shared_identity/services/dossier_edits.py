"""A commune's agents keep the family's file up to date from the console: the family (name,
address, home phone), its guardians and its children. The portal tells parents to ask their
commune for such changes; the family is shared by all its communes, so every commune sees the
change. Each is saved in the agent's audit scope (the console records it)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound

from ..models import Account, Child, Guardian, Membership, normalize_email
from .guardians import MAX_GUARDIANS
from .inputs import (
    AddressInput,
    check_email_into,
    check_max_length_into,
    check_phone_into,
    child_birth_date_problem,
    invalid,
    require,
    validate_address,
)


def _membership(commune, membership_id: int, *, lock: bool = False) -> Membership:
    """The commune's own file, or not found (another commune's family is not this agent's)."""
    rows = Membership.objects.select_related("family").filter(commune=commune, pk=membership_id)
    membership = rows.first()
    if membership is None:
        raise NotFound(_("Ce dossier n'existe pas."))
    if lock:
        type(membership.family).objects.select_for_update().filter(pk=membership.family_id).first()
    return membership


def edit_dossier_family(
    *,
    commune,
    actor: Account,
    membership_id: int,
    name: str,
    address_line: str = "",
    postcode: str = "",
    city: str = "",
    home_phone: str = "",
):
    """The family's name, address and home phone. An address is given whole or not at all."""
    errors: dict[str, list[str]] = {}
    require(errors, "name", name)
    check_max_length_into(errors, "name", name.strip(), 150)
    phone = check_phone_into(errors, "home_phone", home_phone)
    address = AddressInput(address_line=address_line, postcode=postcode, city=city)
    if any(value.strip() for value in (address_line, postcode, city)):
        address = validate_address(address, errors)
    if errors:
        raise invalid(_("La famille n'a pas été modifiée : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = _membership(commune, membership_id, lock=True).family
        family.name = name.strip()
        family.address_line, family.postcode, family.city = (
            address.address_line.strip(),
            address.postcode.strip(),
            address.city.strip(),
        )
        family.home_phone = phone
        family.save(update_fields=["name", "address_line", "postcode", "city", "home_phone"])
    return family


def save_dossier_guardian(
    *,
    commune,
    actor: Account,
    membership_id: int,
    guardian_id: int | None,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
) -> Guardian:
    """Add a guardian (two at most) or correct one. The login e-mail of a guardian who has an
    account is theirs to change (from "Mon compte"), never the commune's."""
    email = normalize_email(email)
    errors: dict[str, list[str]] = {}
    require(errors, "first_name", first_name)
    require(errors, "last_name", last_name)
    check_email_into(errors, "email", email)
    phone = check_phone_into(errors, "phone", phone)
    if errors:
        raise invalid(_("Le responsable n'a pas été enregistré : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = _membership(commune, membership_id, lock=True).family
        guardians = list(family.guardians.select_related("account"))
        if guardian_id is None:
            if len(guardians) >= MAX_GUARDIANS:
                raise FoyerError(
                    "too_many_guardians",
                    _("Une famille compte au plus %(n)s responsables légaux.") % {"n": MAX_GUARDIANS},
                    status=409,
                )
            guardian = Guardian(family=family)
        else:
            guardian = next((g for g in guardians if g.pk == guardian_id), None)
            if guardian is None:
                raise NotFound(_("Ce responsable n'existe pas."))
        if guardian.account_id and email != guardian.email:
            raise invalid(
                _("Le responsable n'a pas été enregistré : corrigez les erreurs."),
                {"email": [_("Cette personne a un compte : elle change son adresse depuis « Mon compte ».")]},
            )
        if any(g.email == email and g.pk != guardian.pk for g in guardians):
            raise invalid(
                _("Le responsable n'a pas été enregistré : corrigez les erreurs."),
                {"email": [_("L'autre responsable a déjà cette adresse.")]},
            )
        guardian.first_name, guardian.last_name = first_name.strip(), last_name.strip()
        guardian.email, guardian.phone = email, phone or ""
        guardian.save()
    return guardian


def save_dossier_child(
    *,
    commune,
    actor: Account,
    membership_id: int,
    child_id: int | None,
    first_name: str,
    last_name: str,
    birth_date: dt.date | None,
) -> Child:
    """Add a child to the family or correct one (name, birth date)."""
    errors: dict[str, list[str]] = {}
    require(errors, "first_name", first_name)
    require(errors, "last_name", last_name)
    check_max_length_into(errors, "first_name", first_name.strip(), 100)
    check_max_length_into(errors, "last_name", last_name.strip(), 100)
    problem = child_birth_date_problem(birth_date)
    if problem:
        errors.setdefault("birth_date", []).append(problem)
    if errors:
        raise invalid(_("L'enfant n'a pas été enregistré : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = _membership(commune, membership_id, lock=True).family
        if child_id is None:
            child = Child(family=family)
        else:
            child = family.children.filter(pk=child_id).first()
            if child is None:
                raise NotFound(_("Cet enfant n'existe pas."))
        child.first_name, child.last_name, child.birth_date = (
            first_name.strip(),
            last_name.strip(),
            birth_date,
        )
        child.save()
    return child
