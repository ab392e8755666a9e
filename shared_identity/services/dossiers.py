"""Family dossiers opened by a commune's staff (console): the family, its guardians and
children, and the commune's file (membership) with its dossier number."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr
from django.utils.translation import gettext as _

import audit

from ..models import (
    Account,
    Child,
    Family,
    Guardian,
    Membership,
    normalize_email,
)
from .inputs import ChildInput, check_email_into, child_birth_date_problem, invalid, require


def create_family_dossier(
    *,
    commune,
    actor: Account,
    family_name: str,
    guardian_first_name: str,
    guardian_last_name: str,
    guardian_email: str,
    guardian_phone: str = "",
    children: list[ChildInput],
    dossier_number: str = "",
) -> Membership:
    """An agent opens a family's file in their commune. The family is invited, not yet active."""
    guardian_email = normalize_email(guardian_email)
    dossier_number = dossier_number.strip()
    errors: dict[str, list[str]] = {}
    require(errors, "family_name", family_name)
    require(errors, "guardian_first_name", guardian_first_name)
    require(errors, "guardian_last_name", guardian_last_name)
    check_email_into(errors, "guardian_email", guardian_email)
    for index, child in enumerate(children):
        field = f"children-{index}"
        if not child.first_name.strip() or not child.last_name.strip():
            errors.setdefault(field, []).append(_("Indiquez le prénom et le nom de l'enfant."))
        problem = child_birth_date_problem(child.birth_date)
        if problem:
            errors.setdefault(field, []).append(problem)
    if dossier_number and Membership.objects.filter(commune=commune, dossier_number=dossier_number).exists():
        errors.setdefault("dossier_number", []).append(_("Ce numéro de dossier est déjà utilisé."))
    existing = Membership.objects.filter(commune=commune, family__guardians__email=guardian_email).first()
    if existing is not None:
        errors.setdefault("guardian_email", []).append(
            _("Une famille avec cette adresse a déjà le dossier n° %(number)s dans la commune.")
            % {"number": existing.dossier_number}
        )
    if errors:
        raise invalid(_("Le dossier n'a pas été créé : corrigez les erreurs."), errors)

    with transaction.atomic(durable=True):
        family = Family.objects.create(name=family_name.strip())
        Guardian.objects.create(
            family=family,
            first_name=guardian_first_name.strip(),
            last_name=guardian_last_name.strip(),
            email=guardian_email,
            phone=guardian_phone.strip(),
        )
        kids = Child.objects.bulk_create(
            Child(
                family=family,
                first_name=c.first_name.strip(),
                last_name=c.last_name.strip(),
                birth_date=c.birth_date,
            )
            for c in children
        )
        audit.created_in_bulk(kids)
        if not dossier_number:
            dossier_number = next_dossier_number(commune)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    family=family, commune=commune, dossier_number=dossier_number
                )
        except IntegrityError as exc:
            raise invalid(
                _("Le dossier n'a pas été créé : corrigez les erreurs."),
                {"dossier_number": [_("Ce numéro de dossier est déjà utilisé.")]},
            ) from exc
    return membership


def next_dossier_number(commune) -> str:
    # Serialise numbering per commune on the commune row; numbers stay readable (F00042).
    type(commune).objects.select_for_update().filter(pk=commune.pk).first()
    top = Membership.objects.filter(commune=commune, dossier_number__regex=r"^F\d{1,9}$").aggregate(
        top=Max(Cast(Substr("dossier_number", 2), BigIntegerField()))
    )["top"]
    return f"F{(top or 0) + 1:05d}"
