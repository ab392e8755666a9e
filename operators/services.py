"""Writes of the operator console and commands: provisioning a commune, suspending and
reactivating it, its custom domains (each recorded in the commune's audit log), and the record
of failed Celery tasks."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError, NotFound
from shared_identity.models import StaffRole
from shared_identity.services import invite_staff
from tenants import schemas
from tenants.models import RESERVED_SLUGS, Commune, Domain, schema_name_for_slug
from tenants.validation import clean_hostname, refuse_domain

from .models import TaskFailure

FAILURE_RETENTION_DAYS = 30
_MAX_EXCEPTION = 2000
_MAX_TRACEBACK = 20000


def record_task_failure(
    *,
    task_name: str,
    task_id: str = "",
    schema_name: str = "",
    exception: str,
    traceback: str = "",
    failed_at: dt.datetime | None = None,
) -> TaskFailure:
    """Keep one failed task run for the health page, and forget those older than the retention.

    Not durable: a task run eagerly (tests, a caller's ``apply()``) fails inside the caller's
    transaction, and the record then shares its fate.
    """
    failed_at = failed_at or timezone.now()
    with transaction.atomic():
        failure = TaskFailure.objects.create(
            task_name=task_name[:200],
            task_id=(task_id or "")[:64],
            schema_name=(schema_name or "")[:63],
            exception=exception[:_MAX_EXCEPTION],
            traceback=traceback[-_MAX_TRACEBACK:],
            failed_at=failed_at,
        )
        TaskFailure.objects.filter(
            failed_at__lt=failed_at - dt.timedelta(days=FAILURE_RETENTION_DAYS)
        ).delete()
    return failure


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
        audit.commune_status_changed(
            commune=commune, status=Commune.Status.SUSPENDED, reason=reason, actor=actor
        )
        commune.status = Commune.Status.SUSPENDED
        commune.suspension_reason = reason
        commune.save(update_fields=["status", "suspension_reason"])
    return commune


def reactivate_commune(*, commune: Commune, actor=None) -> Commune:
    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        audit.commune_status_changed(commune=commune, status=Commune.Status.ACTIVE, reason="", actor=actor)
        commune.status = Commune.Status.ACTIVE
        commune.suspension_reason = ""
        commune.save(update_fields=["status", "suspension_reason"])
    return commune


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
                raise refuse_domain(_("Ce domaine est déjà utilisé par une autre commune."))
            if existing is not None and existing.is_primary:
                raise refuse_domain(
                    _("%(domain)s est déjà le domaine principal de cette commune.") % {"domain": host}
                )
            audit.domain_changed(commune=commune, domain=host, keep_previous=keep_previous, actor=actor)
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
        raise refuse_domain(_("Ce domaine est déjà utilisé par une autre commune.")) from None


def remove_commune_domain(*, commune: Commune, domain_id: int, actor=None) -> None:
    """Remove one of the commune's custom domains; when it was the primary one, the oldest
    remaining domain becomes primary."""
    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        domain = Domain.objects.filter(tenant=commune, pk=domain_id).first()
        if domain is None:
            raise NotFound(_("Ce domaine n'appartient pas à cette commune."))
        audit.domain_removed(commune=commune, domain=domain, actor=actor)
        Domain.objects.filter(pk=domain.pk).delete()
        if domain.is_primary:
            successor = Domain.objects.filter(tenant=commune).order_by("pk").first()
            if successor is not None:
                Domain.objects.filter(pk=successor.pk).update(is_primary=True)
