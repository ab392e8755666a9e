"""The console's own writes on the commune (administrators): its identity and branding, the
booking hold, the staff's two-factor rule, and opening it to families at the end of onboarding.
Each is recorded in the commune's audit log."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError
from shared_identity.models import StaffRole
from shared_identity.two_factor import has_two_factor
from tenants.models import Commune
from tenants.validation import brand_colour_problem

from .onboarding import get_onboarding_checklist


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


# A logo is shown small in the header and on invoices: a few hundred kilobytes is plenty.
LOGO_MAX_BYTES = 500 * 1024
LOGO_MAX_PIXELS = 2000


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
    sentence_name: str = "",
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
    sentence_name = " ".join((sentence_name or "").split())
    if len(sentence_name) > Commune._meta.get_field("sentence_name").max_length:
        errors.setdefault("sentence_name", []).append(_("Ce nom compte au plus 150 caractères."))
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
            commune.sentence_name = sentence_name
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
            commune.save(
                update_fields=[
                    "name",
                    "sentence_name",
                    "brand_colour",
                    "contact_email",
                    "legal_mentions",
                    "logo",
                ]
            )
            if previous and previous != commune.logo.name:
                storage = commune.logo.storage
                transaction.on_commit(lambda: storage.delete(previous))
    except BaseException:
        if stored:
            commune.logo.storage.delete(stored)
        raise
    return commune


def open_commune(*, commune: Commune, actor, now=None) -> Commune:
    """ "Ouvrir aux familles": the end of onboarding. Refused, with every step still to do,
    while a required step of the checklist (console.onboarding) is not done; nothing changes
    then. Until a commune is open only its staff and the operators reach its pages, and no
    activation link can be sent to a family."""
    from django.utils import timezone

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


def set_staff_2fa_requirement(*, commune: Commune, required: bool, actor) -> Commune:
    """Require (or stop requiring) two-factor authentication of every staff member of a commune.

    Only an administrator of the commune may change it, and an administrator turns it on only
    once their own account has it: otherwise the rule would shut them out of their console."""

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
