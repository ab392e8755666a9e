"""Provisioning and lifecycle of communes."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound

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
            domain = clean_hostname(domain)
        except FoyerError as error:
            errors.update(error.field_errors)
        else:
            if Domain.objects.filter(domain=domain).exists():
                errors.setdefault("domain", []).append(
                    _("Ce domaine est déjà utilisé par une autre commune.")
                )
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


# --- Custom domains ----------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TOP_LEVEL = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_NOT_A_HOST = re.compile(r"[/:?#@\\\s]")


def _refuse_domain(message: str) -> FoyerError:
    return FoyerError(
        "invalid_domain",
        _("Le domaine n'a pas été enregistré : corrigez-le."),
        extra={"fields": {"domain": [message]}},
    )


def clean_hostname(value: str) -> str:
    """A commune's custom host name as browsers send it: lower case, ASCII (an accented name
    in its xn-- form), at least two labels, no scheme, path or port. Raises FoyerError with a
    French message on the ``domain`` field."""
    host = (value or "").strip().lower()
    if host.endswith("."):  # "famille.jolieville.fr." is the same host
        host = host[:-1]
    example = "famille.jolieville.fr"
    if not host:
        raise _refuse_domain(_("Indiquez un nom de domaine, par exemple %(example)s.") % {"example": example})
    if _NOT_A_HOST.search(host):
        raise _refuse_domain(
            _(
                "Saisissez seulement le nom de domaine, sans « https:// », chemin ni port : par exemple %(example)s."
            )
            % {"example": example}
        )
    invalid = _(
        "« %(value)s » n'est pas un nom de domaine valide : des mots de lettres sans accent, de chiffres "
        "et de tirets, séparés par des points, par exemple %(example)s."
    ) % {"value": value.strip(), "example": example}
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _refuse_domain(invalid) from None
    if len(host) > 253:
        raise _refuse_domain(_("Un nom de domaine compte au plus 253 caractères."))
    labels = host.split(".")
    if (
        len(labels) < 2
        or not all(_HOST_LABEL.match(label) for label in labels)
        or not _TOP_LEVEL.match(labels[-1])
    ):
        raise _refuse_domain(invalid)
    if host == settings.FOYER_BASE_DOMAIN.lower():
        raise _refuse_domain(
            _("C'est le domaine de la plateforme : il ne peut pas être celui d'une commune.")
        )
    return host


def change_commune_domain(
    *, commune: Commune, domain: str, keep_previous: bool = False, actor=None
) -> Domain:
    """Make ``domain`` the commune's primary custom domain (a request there is redirected to
    its /c/<slug>/ address). Its other domains are removed, or with ``keep_previous`` kept as
    secondary ones that still redirect. A commune has at most one primary domain."""
    host = clean_hostname(domain)
    try:
        with transaction.atomic(durable=True):
            commune = Commune.objects.select_for_update().get(pk=commune.pk)
            existing = Domain.objects.filter(domain=host).first()
            if existing is not None and existing.tenant_id != commune.pk:
                raise _refuse_domain(_("Ce domaine est déjà utilisé par une autre commune."))
            if existing is not None and existing.is_primary:
                raise _refuse_domain(
                    _("%(domain)s est déjà le domaine principal de cette commune.") % {"domain": host}
                )
            others = Domain.objects.filter(tenant=commune).exclude(domain=host)
            if keep_previous:
                others.update(is_primary=False)
            else:
                others.delete()
            if existing is not None:
                Domain.objects.filter(pk=existing.pk).update(is_primary=True)
                existing.is_primary = True
                return existing
            return Domain.objects.create(domain=host, tenant=commune, is_primary=True)
    except IntegrityError:
        # Another commune took it between the check and the insert.
        raise _refuse_domain(_("Ce domaine est déjà utilisé par une autre commune.")) from None


def remove_commune_domain(*, commune: Commune, domain_id: int, actor=None) -> None:
    """Remove one of the commune's custom domains; when it was the primary one, the oldest
    remaining domain becomes primary."""
    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        domain = Domain.objects.filter(tenant=commune, pk=domain_id).first()
        if domain is None:
            raise NotFound(_("Ce domaine n'appartient pas à cette commune."))
        Domain.objects.filter(pk=domain.pk).delete()
        if domain.is_primary:
            successor = Domain.objects.filter(tenant=commune).order_by("pk").first()
            if successor is not None:
                Domain.objects.filter(pk=successor.pk).update(is_primary=True)
