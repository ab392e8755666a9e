"""Provisioning and lifecycle of communes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from foyer.errors import FoyerError

from . import schemas
from .models import RESERVED_SLUGS, Commune, Domain, schema_name_for_slug


def provision_commune(
    *,
    name: str,
    slug: str,
    admin_email: str,
    domain: str | None = None,
    insee_code: str = "",
    kind: str = Commune.Kind.COMMUNE,
    timezone: str = "Europe/Paris",
    actor=None,
) -> Commune:
    """Create a commune: its row, its schema (a clone of the template), its domain and an
    invitation for its first administrator. All or nothing."""
    from shared_identity.models import StaffRole
    from shared_identity.services import invite_staff

    name, slug, admin_email = name.strip(), slug.strip().lower(), admin_email.strip().lower()
    domain = (domain or "").strip().lower() or None
    errors: dict[str, list[str]] = {}

    commune = Commune(
        name=name,
        slug=slug,
        schema_name=schema_name_for_slug(slug),
        insee_code=insee_code.strip(),
        kind=kind,
        timezone=timezone,
    )
    try:
        commune.full_clean(exclude=["schema_name"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if slug in RESERVED_SLUGS:
        errors.setdefault("slug", []).append(_("Cet identifiant est réservé."))
    if Commune.objects.filter(schema_name=commune.schema_name).exclude(slug=slug).exists():
        errors.setdefault("slug", []).append(_("Un identifiant trop proche existe déjà."))
    try:
        validate_email(admin_email)
    except ValidationError:
        errors.setdefault("admin_email", []).append(_("Saisissez une adresse e-mail valide."))
    if domain is not None:
        try:
            Domain(domain=domain, tenant=commune).clean_fields(exclude=["tenant"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if Domain.objects.filter(domain=domain).exists():
            errors.setdefault("domain", []).append(_("Ce domaine est déjà utilisé par une autre commune."))
    if errors:
        raise FoyerError(
            "invalid_commune",
            _("La commune n'a pas été créée : corrigez les erreurs."),
            extra={"fields": errors},
        )

    schemas.ensure_template_schema()
    with transaction.atomic(durable=True):
        commune.save()
        if domain:
            Domain.objects.create(domain=domain, tenant=commune, is_primary=True)
        schemas.clone_template(commune.schema_name)
        invite_staff(commune=commune, email=admin_email, role=StaffRole.Role.ADMIN, actor=actor)
    return commune


def suspend_commune(*, commune: Commune, reason: str, actor=None) -> Commune:
    reason = reason.strip()
    if not reason:
        raise FoyerError(
            "reason_required",
            _("Indiquez le motif de la suspension : il est affiché aux familles."),
            extra={"fields": {"reason": [_("Ce champ est obligatoire.")]}},
        )
    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        commune.status = Commune.Status.SUSPENDED
        commune.suspension_reason = reason
        commune.save(update_fields=["status", "suspension_reason"])
    return commune


def reactivate_commune(*, commune: Commune, actor=None) -> Commune:
    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        commune.status = Commune.Status.ACTIVE
        commune.suspension_reason = ""
        commune.save(update_fields=["status", "suspension_reason"])
    return commune


def update_booking_settings(*, commune: Commune, booking_hold_minutes: int, actor=None) -> Commune:
    """A commune admin sets how long a prepaid cart holds its places while awaiting payment."""
    field = Commune._meta.get_field("booking_hold_minutes")
    try:
        field.clean(booking_hold_minutes, commune)
    except ValidationError as exc:
        raise FoyerError(
            "invalid",
            _("Le réglage n'a pas été enregistré."),
            extra={"fields": {"booking_hold_minutes": [_("Entre 5 minutes et 24 heures.")]}},
        ) from exc
    with transaction.atomic(durable=True):
        Commune.objects.filter(pk=commune.pk).update(booking_hold_minutes=booking_hold_minutes)
    commune.booking_hold_minutes = booking_hold_minutes
    return commune
