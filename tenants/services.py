"""Provisioning and lifecycle of communes."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

import audit
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
        audit.record_update(
            commune, booking_hold_minutes=(commune.booking_hold_minutes, booking_hold_minutes)
        )
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
        raise _refuse_domain(_("Ce domaine est déjà utilisé par une autre commune.")) from None


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


# --- Identity and branding (commune administrators) ------------------------------------------

# A logo is shown small in the header and on invoices: a few hundred kilobytes is plenty.
LOGO_MAX_BYTES = 500 * 1024
LOGO_MAX_PIXELS = 2000
# White text sits on the brand colour (buttons, header mark) and brand links on white: WCAG AA.
MIN_CONTRAST_WITH_WHITE = 4.5


def contrast_with_white(colour: str) -> float:
    """The WCAG 2 contrast ratio between ``colour`` (#RRGGBB) and white."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return 1.05 / (luminance + 0.05)


def brand_colour_problem(colour: str) -> str | None:
    """Why a brand colour cannot be used, or None."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour or ""):
        return _("La couleur s'écrit #RRGGBB (par exemple #1d4ed8).")
    ratio = contrast_with_white(colour)
    # Rounded down: 4,49:1 must not read "4,5:1" in a refusal.
    if ratio < MIN_CONTRAST_WITH_WHITE:
        shown = f"{int(ratio * 10) / 10:.1f}".replace(".", ",")
        return _(
            "Cette couleur est trop claire : le texte blanc posé dessus (en-tête, boutons) serait "
            "difficile à lire. Son contraste avec le blanc est de %(ratio)s:1, il faut au moins 4,5:1 : "
            "choisissez une couleur plus foncée."
        ) % {"ratio": shown}
    return None


def _checked_logo(upload) -> tuple[str, str]:
    """(extension, problem): the logo's extension from its content, or the refusal message."""
    from PIL import Image, UnidentifiedImageError

    from foyer.uploads import JPEG, PNG, sniff_type

    size = getattr(upload, "size", 0) or 0
    if size == 0:
        return "", _("Le fichier du logo est vide.")
    if size > LOGO_MAX_BYTES:
        return "", _(
            "Le logo dépasse %(max)s Ko : enregistrez-le en plus petit (400 pixels de large suffisent)."
        ) % {"max": LOGO_MAX_BYTES // 1024}
    upload.seek(0)
    kind = sniff_type(upload.read(16))
    upload.seek(0)
    if kind not in (PNG, JPEG):
        return "", _("Le logo doit être une image PNG ou JPEG (le contenu du fichier a été vérifié).")
    try:
        with Image.open(upload) as image:
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return "", _("Cette image est illisible ou abîmée : enregistrez-la à nouveau en PNG ou JPEG.")
    finally:
        upload.seek(0)
    if width > LOGO_MAX_PIXELS or height > LOGO_MAX_PIXELS:
        return "", _(
            "Le logo mesure au plus %(max)s × %(max)s pixels (celui-ci : %(width)s × %(height)s)."
        ) % {
            "max": LOGO_MAX_PIXELS,
            "width": width,
            "height": height,
        }
    return (".png" if kind == PNG else ".jpg"), ""


def update_commune_identity(
    *,
    commune: Commune,
    actor,
    name: str,
    brand_colour: str,
    contact_email: str = "",
    legal_mentions: str = "",
    logo=None,
    remove_logo: bool = False,
) -> Commune:
    """A commune admin sets what families see: the name, the logo (PNG or JPEG, checked from
    its content), the colour (readable under white text), the contact address and the legal
    mentions. Every problem is refused at once and nothing changes; a replaced logo file is
    removed after the commit."""
    from secrets import token_hex

    name, contact_email = (name or "").strip(), (contact_email or "").strip().lower()
    legal_mentions, brand_colour = (legal_mentions or "").strip(), (brand_colour or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not name:
        errors.setdefault("name", []).append(_("Indiquez le nom affiché aux familles."))
    elif len(name) > Commune._meta.get_field("name").max_length:
        errors.setdefault("name", []).append(_("Le nom compte au plus 120 caractères."))
    problem = brand_colour_problem(brand_colour)
    if problem:
        errors.setdefault("brand_colour", []).append(problem)
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            errors.setdefault("contact_email", []).append(_("Saisissez une adresse e-mail valide."))
    if len(legal_mentions) > 20_000:
        errors.setdefault("legal_mentions", []).append(
            _("Les mentions légales comptent au plus 20 000 caractères.")
        )
    extension = ""
    if logo is not None:
        extension, problem = _checked_logo(logo)
        if problem:
            errors.setdefault("logo", []).append(problem)
    if errors:
        raise FoyerError(
            "invalid_identity",
            _("L'identité n'a pas été enregistrée : corrigez les erreurs."),
            extra={"fields": errors},
        )

    stored = None
    try:
        with transaction.atomic(durable=True):
            commune = Commune.objects.select_for_update().get(pk=commune.pk)
            previous = commune.logo.name
            commune.name = name
            commune.brand_colour = brand_colour
            commune.contact_email = contact_email
            commune.legal_mentions = legal_mentions
            if logo is not None:
                # A new name each time: the logo's address changes with it, so caches never
                # show the old one.
                commune.logo.save(f"logo-{token_hex(8)}{extension}", logo, save=False)
                stored = commune.logo.name
            elif remove_logo:
                commune.logo = ""
            commune.save(update_fields=["name", "brand_colour", "contact_email", "legal_mentions", "logo"])
            if previous and previous != commune.logo.name:
                storage = commune.logo.storage
                transaction.on_commit(lambda: storage.delete(previous))
    except BaseException:
        if stored:
            commune.logo.storage.delete(stored)
        raise
    return commune


# --- Opening to families ------------------------------------------------------------------------


def open_commune(*, commune: Commune, actor, now=None) -> Commune:
    """ "Ouvrir aux familles": the end of onboarding. Refused, with every step still to do,
    while a required step of the checklist (console.onboarding) is not done; nothing changes
    then. Until a commune is open only its staff and the operators reach its pages, and no
    activation link can be sent to a family."""
    from django.utils import timezone

    from console.onboarding import get_onboarding_checklist

    with transaction.atomic(durable=True):
        commune = Commune.objects.select_for_update().get(pk=commune.pk)
        if commune.is_open:
            raise FoyerError(
                "already_open",
                _("%(name)s est déjà ouverte aux familles.") % {"name": commune.name},
                status=409,
            )
        checklist = get_onboarding_checklist(commune=commune)
        blocking = checklist.blocking_steps
        if blocking:
            raise FoyerError(
                "onboarding_incomplete",
                _("%(name)s n'est pas encore ouverte aux familles : terminez d'abord ces étapes.")
                % {"name": commune.name},
                status=409,
                extra={
                    "steps": [
                        {"key": s.key, "title": str(s.title), "missing": list(s.missing)} for s in blocking
                    ]
                },
            )
        commune.opened_at = now or timezone.now()
        commune.save(update_fields=["opened_at"])
    return commune


# --- Staff security (commune administrators) -------------------------------------------------


def set_staff_2fa_requirement(*, commune: Commune, required: bool, actor) -> Commune:
    """Require (or stop requiring) two-factor authentication of every staff member of a commune.

    Only an administrator of the commune may change it, and an administrator turns it on only
    once their own account has it: otherwise the rule would shut them out of their console."""
    from shared_identity.models import StaffRole
    from shared_identity.two_factor import has_two_factor

    if not StaffRole.objects.filter(account=actor, commune=commune, role=StaffRole.Role.ADMIN).exists():
        raise FoyerError(
            "forbidden", _("Seul un administrateur de la commune peut changer ce réglage."), status=403
        )
    if required and not has_two_factor(actor):
        message = _(
            "Activez d'abord la double authentification sur votre propre compte (Mon compte › Sécurité) : "
            "vous pourrez ensuite l'exiger de toute l'équipe."
        )
        raise FoyerError(
            "two_factor_first", message, status=409, extra={"fields": {"require_staff_2fa": [message]}}
        )
    with transaction.atomic(durable=True):
        audit.record_update(commune, require_staff_2fa=(commune.require_staff_2fa, required))
        Commune.objects.filter(pk=commune.pk).update(require_staff_2fa=required)
    commune.require_staff_2fa = required
    return commune
