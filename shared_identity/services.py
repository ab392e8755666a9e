"""Writes on the shared identity: family dossiers, invitations, activation, staff, the family
profile (shared by all communes), the login e-mail and the second guardian. The data rights
(export, deletion) are in data_rights.py."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError
from tenants.tasks import enqueue_on_commit

from . import notifications
from .models import (
    EMAIL_CHANGE_LIFETIME,
    Account,
    Child,
    EmailChange,
    Family,
    Guardian,
    Invitation,
    Membership,
    StaffRole,
    normalize_email,
)
from .selectors import (
    NOTIFICATION_FIELDS,
    get_account_by_email,
    get_email_change_for_token,
    get_family_for_account,
    get_guardian_invitation_for_token,
    get_invitation_for_token,
)
from .tokens import new_token


@dataclass(frozen=True)
class ChildInput:
    first_name: str
    last_name: str
    birth_date: dt.date | None


@dataclass(frozen=True)
class ProfileInput:
    first_name: str
    last_name: str
    phone: str = ""
    address_line: str = ""
    postcode: str = ""
    city: str = ""


def invalid(message: str, errors: dict[str, list[str]]) -> FoyerError:
    return FoyerError("invalid", message, extra={"fields": errors})


def _required(errors: dict[str, list[str]], field: str, value: str) -> None:
    if not value.strip():
        errors.setdefault(field, []).append(_("Ce champ est obligatoire."))


def _validate_email_into(errors: dict[str, list[str]], field: str, email: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        errors.setdefault(field, []).append(_("Saisissez une adresse e-mail valide."))


# --- Family dossiers (commune console) ------------------------------------------------------


def child_birth_date_problem(birth_date: dt.date | None, *, today: dt.date | None = None) -> str | None:
    """Why a child's birth date cannot be accepted, or None (shared by the dossier form and
    the CSV import)."""
    if birth_date is None:
        return _("Indiquez la date de naissance de l'enfant.")
    today = today or timezone.localdate()
    if not (today - dt.timedelta(days=26 * 366) <= birth_date <= today):
        return _("La date de naissance n'est pas plausible.")
    return None


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
    _required(errors, "family_name", family_name)
    _required(errors, "guardian_first_name", guardian_first_name)
    _required(errors, "guardian_last_name", guardian_last_name)
    _validate_email_into(errors, "guardian_email", guardian_email)
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
            dossier_number = _next_dossier_number(commune)
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


def _next_dossier_number(commune) -> str:
    # Serialise numbering per commune on the commune row; numbers stay readable (F00042).
    type(commune).objects.select_for_update().filter(pk=commune.pk).first()
    top = Membership.objects.filter(commune=commune, dossier_number__regex=r"^F\d{1,9}$").aggregate(
        top=Max(Cast(Substr("dossier_number", 2), BigIntegerField()))
    )["top"]
    return f"F{(top or 0) + 1:05d}"


# --- Invitations --------------------------------------------------------------------------------


def ensure_open_to_families(commune) -> None:
    """Refuse to send a family an activation link while the commune is still preparing its
    space (onboarding): the link would lead to a closed door."""
    if not commune.is_open:
        raise FoyerError(
            "commune_not_open",
            _(
                "%(name)s n'est pas encore ouverte aux familles : terminez la mise en service "
                "(« Ouvrir aux familles ») avant d'envoyer les liens d'activation."
            )
            % {"name": commune.name},
            status=409,
        )


def send_family_invitation(*, membership: Membership, actor: Account | None) -> Invitation:
    """Activate a family's file: e-mail a one-time link (72 h). Sending again replaces the link.
    Refused while the commune is not open to families."""
    with transaction.atomic(durable=True):
        membership = (
            Membership.objects.select_for_update().select_related("commune", "family").get(pk=membership.pk)
        )
        ensure_open_to_families(membership.commune)
        if membership.status != Membership.Status.INVITED:
            raise FoyerError(
                "already_active", _("Ce dossier est déjà activé : la famille peut se connecter.")
            )
        guardian = membership.family.guardians.filter(account__isnull=True).order_by("pk").first()
        if guardian is None:
            guardian = membership.family.guardians.order_by("pk").first()
        invitation = membership.invitations.filter(used_at__isnull=True).first()
        return _issue_invitation(
            invitation=invitation,
            kind=Invitation.Kind.FAMILY,
            commune=membership.commune,
            email=guardian.email,
            membership=membership,
            actor=actor,
        )


def invite_staff(*, commune, email: str, role: str, actor: Account | None) -> Invitation:
    email = normalize_email(email)
    errors: dict[str, list[str]] = {}
    _validate_email_into(errors, "email", email)
    if role not in StaffRole.Role.values:
        errors.setdefault("role", []).append(_("Choisissez un rôle."))
    if errors:
        raise invalid(_("L'invitation n'a pas été envoyée : corrigez les erreurs."), errors)
    with transaction.atomic():
        invitation = Invitation.objects.filter(
            commune=commune, kind=Invitation.Kind.STAFF, email=email, used_at__isnull=True
        ).first()
        return _issue_invitation(
            invitation=invitation,
            kind=Invitation.Kind.STAFF,
            commune=commune,
            email=email,
            role=role,
            actor=actor,
        )


def resend_invitation(*, invitation: Invitation, actor: Account | None) -> Invitation:
    if invitation.kind == Invitation.Kind.FAMILY:
        return send_family_invitation(membership=invitation.membership, actor=actor)
    return invite_staff(commune=invitation.commune, email=invitation.email, role=invitation.role, actor=actor)


def _issue_invitation(
    *, invitation: Invitation | None, kind: str, commune, email: str, actor, membership=None, role: str = ""
) -> Invitation:
    from .tasks import send_invitation_email

    token, token_hash = new_token()
    now = timezone.now()
    if invitation is None:
        invitation = Invitation(kind=kind, commune=commune, membership=membership, created_by=actor)
    invitation.email = email
    invitation.role = role
    invitation.token_hash = token_hash
    invitation.expires_at = now + Invitation.lifetime(kind)
    invitation.delivery = Invitation.Delivery.QUEUED
    invitation.save()
    enqueue_on_commit(
        send_invitation_email, schema_name=commune.schema_name, invitation_id=invitation.pk, token=token
    )
    return invitation


def mark_invitation_delivery(*, invitation_id: int, delivered: bool) -> None:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
        if delivered:
            invitation.delivery = Invitation.Delivery.SENT
            invitation.sent_at = timezone.now()
            invitation.send_count += 1
        else:
            invitation.delivery = Invitation.Delivery.FAILED
        invitation.save(update_fields=["delivery", "sent_at", "send_count"])


# --- Activation (family side) -----------------------------------------------------------------


def activate_family_with_new_account(
    *, commune, token: str, profile: ProfileInput, password: str, password_confirmation: str
) -> Account:
    """First visit of a guardian: complete the profile, choose a password, get one account."""
    with transaction.atomic(durable=True):
        invitation = get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.FAMILY, lock=True
        )
        account = _create_account(
            email=invitation.email,
            profile=profile,
            password=password,
            password_confirmation=password_confirmation,
            exists_message=_(
                "Un compte existe déjà pour cette adresse : connectez-vous pour rattacher la commune."
            ),
        )
        family = invitation.membership.family
        for field in ("address_line", "postcode", "city"):
            value = getattr(profile, field).strip()
            if value:
                setattr(family, field, value)
        family.save()
        Guardian.objects.filter(family=family, email=invitation.email).update(
            account=account, first_name=account.first_name, last_name=account.last_name, phone=account.phone
        )
        complete_activation(invitation=invitation, account=account)
    return account


def complete_activation(*, invitation: Invitation, account: Account) -> None:
    now = timezone.now()
    Membership.objects.filter(pk=invitation.membership_id).update(
        status=Membership.Status.ACTIVE, activated_at=now
    )
    invitation.used_at = now
    invitation.used_by = account
    invitation.save(update_fields=["used_at", "used_by"])


# --- Staff invitations ------------------------------------------------------------------------


def accept_staff_invitation(
    *,
    commune,
    token: str,
    account: Account | None,
    profile: ProfileInput | None = None,
    password: str = "",
    password_confirmation: str = "",
) -> Account:
    """A staff member joins a commune's console, with their existing account or a new one."""
    with transaction.atomic(durable=True):
        invitation = get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.STAFF, lock=True
        )
        if account is None:
            account = _create_account(
                email=invitation.email,
                profile=profile or ProfileInput(first_name="", last_name=""),
                password=password,
                password_confirmation=password_confirmation,
                exists_message=_(
                    "Un compte existe déjà pour cette adresse : connectez-vous pour accepter l'invitation."
                ),
            )
        elif normalize_email(account.email) != invitation.email:
            raise FoyerError(
                "wrong_account",
                _("Cette invitation a été envoyée à une autre adresse e-mail que celle de votre compte."),
                status=403,
            )
        StaffRole.objects.update_or_create(
            account=account, commune=commune, defaults={"role": invitation.role}
        )
        _record_staff_joined(commune=commune, account=account, role=invitation.role)
        invitation.used_at = timezone.now()
        invitation.used_by = account
        invitation.save(update_fields=["used_at", "used_by"])
    return account


def _record_staff_joined(*, commune, account, role: str) -> None:
    """shared_identity.services.accept_staff_invitation: the new member acts before they have
    a role, so no scope is open; the entry is theirs."""
    label = f"{account.email} — {StaffRole.Role(role).label}"
    audit.record(
        action="staff_role.create",
        object_type="staff_role",
        object_label=label,
        summary=_("Invitation acceptée : %(who)s rejoint l'équipe") % {"who": label},
        changes={"after": {"account": account.email, "role": role}},
        commune=commune,
        actor=account,
        role=role,
    )


def _create_account(
    *, email: str, profile: ProfileInput, password: str, password_confirmation: str, exists_message: str
) -> Account:
    """Validate a new account's profile and password (all errors at once), then create it."""
    if get_account_by_email(email) is not None:
        raise FoyerError("account_exists", exists_message, status=409)
    errors: dict[str, list[str]] = {}
    _required(errors, "first_name", profile.first_name)
    _required(errors, "last_name", profile.last_name)
    if password != password_confirmation:
        errors.setdefault("password_confirmation", []).append(
            _("Les deux mots de passe ne sont pas identiques.")
        )
    account = Account(
        email=email,
        first_name=profile.first_name.strip(),
        last_name=profile.last_name.strip(),
        phone=profile.phone.strip(),
    )
    try:
        validate_password(password, user=account)
    except ValidationError as exc:
        errors.setdefault("password", []).extend(exc.messages)
    if errors:
        raise invalid(_("Votre compte n'a pas été créé : corrigez les erreurs."), errors)
    account.set_password(password)
    account.save()
    return account


# --- Account preferences ------------------------------------------------------------------------


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


# --- The family profile ------------------------------------------------------------------------

POSTCODE_RE = re.compile(r"^\d{5}$")
_FRENCH_PHONE_RE = re.compile(r"^(?:\+33|0033|0)([1-9]\d{8})$")
_INTERNATIONAL_PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def clean_phone(value: str) -> str | None:
    """A phone number as people read it ("06 12 34 56 78", or "+32470123456" abroad), "" for
    none, None when it is not a phone number."""
    compact = re.sub(r"[\s.\-()]", "", (value or "").replace("(0)", ""))
    if not compact:
        return ""
    match = _FRENCH_PHONE_RE.match(compact)
    if match:
        digits = "0" + match.group(1)
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if _INTERNATIONAL_PHONE_RE.match(compact):
        return compact
    return None


def _phone_into(errors: dict[str, list[str]], field: str, value: str) -> str:
    phone = clean_phone(value)
    if phone is None:
        errors.setdefault(field, []).append(
            _("Saisissez un numéro de téléphone valide (par exemple 06 12 34 56 78).")
        )
        return ""
    return phone


def _max_length_into(errors: dict[str, list[str]], field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors.setdefault(field, []).append(
            _("%(limit)s caractères au plus (vous en avez saisi %(count)s).")
            % {"limit": limit, "count": len(value)}
        )


def update_my_identity(
    *, actor: Account, first_name: str | None = None, last_name: str | None = None, phone: str | None = None
) -> Account:
    """The signed-in guardian's own name and mobile phone (each guardian edits only their own).
    A field left at None keeps its value. Copied onto their guardian rows in every family."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for field, value, limit in (("first_name", first_name, 100), ("last_name", last_name, 100)):
        if value is not None:
            _required(errors, field, value)
            _max_length_into(errors, field, value.strip(), limit)
            values[field] = value.strip()
    if phone is not None:
        values["phone"] = _phone_into(errors, "phone", phone)
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
        _required(errors, "name", name)
        _max_length_into(errors, "name", name.strip(), 150)
        values["name"] = name.strip()
    if home_phone is not None:
        values["home_phone"] = _phone_into(errors, "home_phone", home_phone)
    if errors:
        raise invalid(_("La famille n'a pas été modifiée : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = get_family_for_account(actor, family_id, lock=True)
        for field, value in values.items():
            setattr(family, field, value)
        if values:
            family.save(update_fields=list(values))
    return family


@dataclass(frozen=True)
class AddressInput:
    address_line: str
    postcode: str
    city: str

    def lines(self) -> str:
        return f"{self.address_line}\n{self.postcode} {self.city}"


def validate_address(address: AddressInput, errors: dict[str, list[str]]) -> AddressInput:
    cleaned = AddressInput(
        address_line=" ".join(address.address_line.split()),
        postcode=address.postcode.replace(" ", ""),
        city=" ".join(address.city.split()),
    )
    _required(errors, "address_line", cleaned.address_line)
    _max_length_into(errors, "address_line", cleaned.address_line, 255)
    if not cleaned.postcode:
        _required(errors, "postcode", cleaned.postcode)
    elif not POSTCODE_RE.match(cleaned.postcode):
        errors.setdefault("postcode", []).append(_("Le code postal comporte 5 chiffres (par exemple 38000)."))
    _required(errors, "city", cleaned.city)
    _max_length_into(errors, "city", cleaned.city, 120)
    return cleaned


# --- The login e-mail ------------------------------------------------------------------------


def request_email_change(*, actor: Account, new_email: str, password: str) -> EmailChange:
    """Ask to sign in with another address: a one-time link (24 h) goes to the new address;
    nothing changes until it is opened. Asking again replaces the previous link."""
    new_email = normalize_email(new_email)
    errors: dict[str, list[str]] = {}
    if not actor.check_password(password or ""):
        errors.setdefault("password", []).append(_("Mot de passe incorrect."))
    _validate_email_into(errors, "new_email", new_email)
    if not errors.get("new_email"):
        if new_email == normalize_email(actor.email):
            errors.setdefault("new_email", []).append(_("C'est déjà l'adresse de votre compte."))
        elif get_account_by_email(new_email) is not None:
            errors.setdefault("new_email", []).append(
                _("Cette adresse est déjà celle d'un autre compte Foyer : choisissez-en une autre.")
            )
        elif _guardian_email_clash(actor, new_email):
            errors.setdefault("new_email", []).append(
                _("Cette adresse est déjà celle d'un autre responsable de votre famille.")
            )
    if errors:
        raise invalid(_("L'adresse e-mail n'a pas été changée : corrigez les erreurs."), errors)
    token, token_hash = new_token()
    now = timezone.now()
    with transaction.atomic(durable=True):
        Account.objects.select_for_update().filter(pk=actor.pk).first()
        EmailChange.objects.filter(account=actor, used_at__isnull=True).delete()
        change = EmailChange.objects.create(
            account=actor, new_email=new_email, token_hash=token_hash, expires_at=now + EMAIL_CHANGE_LIFETIME
        )
        notifications.send_after_commit(
            "email_change_confirm",
            {
                "account": actor,
                "change": change,
                "link": settings.FOYER_BASE_URL
                + reverse("portal:email_change_confirm", kwargs={"token": token}),
            },
            to=[new_email],
        )
    return change


def _guardian_email_clash(account: Account, email: str) -> bool:
    return (
        Guardian.objects.filter(family__guardians__account=account, email__iexact=email)
        .exclude(account=account)
        .exists()
    )


def confirm_email_change(*, token: str) -> Account:
    """The link from the new address was opened: the account signs in with it from now on, and
    the old address is told."""
    with transaction.atomic(durable=True):
        change = get_email_change_for_token(token=token, lock=True)
        account = Account.objects.select_for_update().get(pk=change.account_id)
        if not account.is_active:
            raise FoyerError("invalid_link", _("Ce lien n'est pas valide."), status=404)
        if get_account_by_email(change.new_email) is not None or _guardian_email_clash(
            account, change.new_email
        ):
            raise FoyerError(
                "email_taken",
                _(
                    "Cette adresse est devenue celle d'un autre compte Foyer entre-temps : "
                    "votre adresse de connexion n'a pas changé."
                ),
                status=409,
            )
        old_email = account.email
        account.email = change.new_email
        try:
            with transaction.atomic():
                account.save(update_fields=["email"])
        except IntegrityError as exc:
            raise FoyerError(
                "email_taken",
                _("Cette adresse est déjà celle d'un autre compte Foyer : votre adresse n'a pas changé."),
                status=409,
            ) from exc
        Guardian.objects.filter(account=account).update(email=change.new_email)
        change.used_at = timezone.now()
        change.save(update_fields=["used_at"])
        notifications.send_after_commit(
            "email_changed", {"account": account, "old_email": old_email}, to=[old_email]
        )
    return account


def cancel_email_change(*, actor: Account) -> None:
    EmailChange.objects.filter(account=actor, used_at__isnull=True).delete()


# --- The second guardian ----------------------------------------------------------------------

MAX_GUARDIANS = 2


def invite_guardian(*, actor: Account, family_id: int, email: str) -> Invitation:
    """A guardian invites the family's other guardian: a one-time link (72 h) to create an
    account (or sign in with theirs) and become a guardian of this family, in all its communes.
    Inviting again replaces the previous link."""
    email = normalize_email(email)
    errors: dict[str, list[str]] = {}
    _validate_email_into(errors, "email", email)
    if errors:
        raise invalid(_("L'invitation n'a pas été envoyée : corrigez les erreurs."), errors)
    with transaction.atomic(durable=True):
        family = get_family_for_account(actor, family_id, lock=True)
        guardians = list(family.guardians.select_related("account"))
        same = next((g for g in guardians if normalize_email(g.email) == email), None)
        if same is not None and same.account_id is not None:
            raise invalid(
                _("L'invitation n'a pas été envoyée : corrigez les erreurs."),
                {"email": [_("Cette personne est déjà responsable de la famille, avec son compte.")]},
            )
        if same is None and len(guardians) >= MAX_GUARDIANS:
            raise FoyerError(
                "too_many_guardians",
                _("Votre famille a déjà deux responsables : une famille en compte deux au plus."),
                status=409,
            )
        token, token_hash = new_token()
        invitation = Invitation.objects.filter(
            kind=Invitation.Kind.GUARDIAN, family=family, used_at__isnull=True
        ).first() or Invitation(kind=Invitation.Kind.GUARDIAN, family=family)
        invitation.email = email
        invitation.token_hash = token_hash
        invitation.created_by = actor
        invitation.expires_at = timezone.now() + Invitation.lifetime(Invitation.Kind.GUARDIAN)
        invitation.delivery = Invitation.Delivery.QUEUED
        invitation.save()
        from .tasks import send_guardian_invitation_email

        invitation_id = invitation.pk
        transaction.on_commit(
            lambda: send_guardian_invitation_email.delay(invitation_id=invitation_id, token=token)
        )
    return invitation


def cancel_guardian_invitation(*, actor: Account, family_id: int) -> None:
    family = get_family_for_account(actor, family_id)
    Invitation.objects.filter(kind=Invitation.Kind.GUARDIAN, family=family, used_at__isnull=True).delete()


def accept_guardian_invitation_with_new_account(
    *, token: str, profile: ProfileInput, password: str, password_confirmation: str
) -> Account:
    """The invited person has no account yet: they create one and join the family."""
    with transaction.atomic(durable=True):
        invitation = get_guardian_invitation_for_token(token=token, lock=True)
        account = _create_account(
            email=invitation.email,
            profile=profile,
            password=password,
            password_confirmation=password_confirmation,
            exists_message=_(
                "Un compte existe déjà pour cette adresse : connectez-vous pour accepter l'invitation."
            ),
        )
        _join_family(invitation=invitation, account=account)
    return account


def accept_guardian_invitation_for_account(*, token: str, account: Account) -> Guardian:
    """The invited person signed in with their existing account (same address as the invitation)."""
    with transaction.atomic(durable=True):
        invitation = get_guardian_invitation_for_token(token=token, lock=True)
        if normalize_email(account.email) != invitation.email:
            raise FoyerError(
                "wrong_account",
                _(
                    "Cette invitation a été envoyée à une autre adresse e-mail que celle de votre compte. "
                    "Déconnectez-vous, puis ouvrez à nouveau le lien."
                ),
                status=403,
            )
        return _join_family(invitation=invitation, account=account)


def _join_family(*, invitation: Invitation, account: Account) -> Guardian:
    family = Family.objects.select_for_update().get(pk=invitation.family_id)
    guardians = list(family.guardians.all())
    if any(g.account_id == account.pk for g in guardians):
        raise FoyerError(
            "already_guardian",
            _("Vous êtes déjà responsable de cette famille : elle est dans votre espace."),
            status=409,
        )
    same = next((g for g in guardians if normalize_email(g.email) == invitation.email), None)
    if same is None and len(guardians) >= MAX_GUARDIANS:
        raise FoyerError(
            "too_many_guardians",
            _("Cette famille a déjà deux responsables : l'invitation ne peut plus être acceptée."),
            status=409,
        )
    if same is not None and same.account_id is not None:
        # The address got its own login since the invitation: never take a guardian over.
        raise FoyerError(
            "guardian_taken",
            _("Ce responsable a déjà son propre compte : l'invitation ne peut plus être acceptée."),
            status=409,
        )
    if same is None:
        same = Guardian(family=family, email=invitation.email)
    same.account = account
    same.first_name = account.first_name
    same.last_name = account.last_name
    same.phone = account.phone
    same.save()
    invitation.used_at = timezone.now()
    invitation.used_by = account
    invitation.save(update_fields=["used_at", "used_by"])
    return same
