"""Writes on the shared identity: family dossiers, invitations, activation, staff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from tenants.tasks import enqueue_on_commit

from .models import Account, Child, Family, Guardian, Invitation, Membership, StaffRole, normalize_email
from .selectors import get_account_by_email, get_invitation_for_token
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


def _invalid(message: str, errors: dict[str, list[str]]) -> FoyerError:
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
    today = timezone.localdate()
    for index, child in enumerate(children):
        field = f"children-{index}"
        if not child.first_name.strip() or not child.last_name.strip():
            errors.setdefault(field, []).append(_("Indiquez le prénom et le nom de l'enfant."))
        if child.birth_date is None:
            errors.setdefault(field, []).append(_("Indiquez la date de naissance de l'enfant."))
        elif not (today.replace(year=today.year - 26) <= child.birth_date <= today):
            errors.setdefault(field, []).append(_("La date de naissance n'est pas plausible."))
    if dossier_number and Membership.objects.filter(commune=commune, dossier_number=dossier_number).exists():
        errors.setdefault("dossier_number", []).append(_("Ce numéro de dossier est déjà utilisé."))
    existing = Membership.objects.filter(commune=commune, family__guardians__email=guardian_email).first()
    if existing is not None:
        errors.setdefault("guardian_email", []).append(
            _("Une famille avec cette adresse a déjà le dossier n° %(number)s dans la commune.")
            % {"number": existing.dossier_number}
        )
    if errors:
        raise _invalid(_("Le dossier n'a pas été créé : corrigez les erreurs."), errors)

    with transaction.atomic(durable=True):
        family = Family.objects.create(name=family_name.strip())
        Guardian.objects.create(
            family=family,
            first_name=guardian_first_name.strip(),
            last_name=guardian_last_name.strip(),
            email=guardian_email,
            phone=guardian_phone.strip(),
        )
        Child.objects.bulk_create(
            Child(
                family=family,
                first_name=c.first_name.strip(),
                last_name=c.last_name.strip(),
                birth_date=c.birth_date,
            )
            for c in children
        )
        if not dossier_number:
            dossier_number = _next_dossier_number(commune)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    family=family, commune=commune, dossier_number=dossier_number
                )
        except IntegrityError as exc:
            raise _invalid(
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


def send_family_invitation(*, membership: Membership, actor: Account | None) -> Invitation:
    """Activate a family's file: e-mail a one-time link (72 h). Sending again replaces the link."""
    with transaction.atomic(durable=True):
        membership = (
            Membership.objects.select_for_update().select_related("commune", "family").get(pk=membership.pk)
        )
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
        raise _invalid(_("L'invitation n'a pas été envoyée : corrigez les erreurs."), errors)
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
        _complete_activation(invitation=invitation, account=account)
    return account


def activate_family_for_account(*, commune, token: str, account: Account) -> Membership:
    """A guardian who already has an account (from another commune) adds this commune to it.

    The file the commune opened is merged into the family the account already belongs to:
    never a second account, and children already known are not duplicated."""
    with transaction.atomic(durable=True):
        invitation = get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.FAMILY, lock=True
        )
        if normalize_email(account.email) != invitation.email:
            raise FoyerError(
                "wrong_account",
                _(
                    "Ce lien a été envoyé à une autre adresse e-mail que celle de votre compte. "
                    "Déconnectez-vous, puis ouvrez à nouveau le lien."
                ),
                status=403,
            )
        membership = invitation.membership
        if (
            Membership.objects.filter(commune=commune, family__guardians__account=account)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise FoyerError(
                "already_member",
                _(
                    "Votre famille est déjà rattachée à cette commune : vous la retrouvez dans « Mes communes »."
                ),
                status=409,
            )
        target = Family.objects.filter(guardians__account=account).order_by("pk").first()
        if target is not None and target.pk != membership.family_id:
            _merge_dossier(dossier=membership.family, into=target, account=account)
            membership.refresh_from_db()
        else:
            Guardian.objects.filter(family=membership.family, email=invitation.email).update(account=account)
        _complete_activation(invitation=invitation, account=account)
        return membership


def _merge_dossier(*, dossier: Family, into: Family, account: Account) -> None:
    """Runs in the schema of the commune that opened the dossier: the only one whose data
    points at it, and which is moved to the family it joins."""
    from reservations.services import reassign_family

    known_children = {(c.first_name.casefold(), c.birth_date): c.pk for c in into.children.all()}
    same_child: dict[int, int] = {}
    for child in dossier.children.all():
        known = known_children.get((child.first_name.casefold(), child.birth_date))
        if known:
            same_child[child.pk] = known
        else:
            child.family = into
            child.save(update_fields=["family"])
    reassign_family(from_family_id=dossier.pk, to_family_id=into.pk, same_child=same_child)
    Child.objects.filter(pk__in=same_child).delete()
    known_emails = set(into.guardians.values_list("email", flat=True))
    for guardian in dossier.guardians.all():
        if guardian.email in known_emails or guardian.email == account.email:
            guardian.delete()
        else:
            guardian.family = into
            guardian.save(update_fields=["family"])
    dossier.memberships.update(family=into)
    for field in ("address_line", "postcode", "city"):
        if not getattr(into, field) and getattr(dossier, field):
            setattr(into, field, getattr(dossier, field))
    into.save()
    dossier.delete()


def _complete_activation(*, invitation: Invitation, account: Account) -> None:
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
        invitation.used_at = timezone.now()
        invitation.used_by = account
        invitation.save(update_fields=["used_at", "used_by"])
    return account


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
        raise _invalid(_("Votre compte n'a pas été créé : corrigez les erreurs."), errors)
    account.set_password(password)
    account.save()
    return account


# --- Account preferences ------------------------------------------------------------------------


def set_booking_reminders(*, account: Account, enabled: bool) -> None:
    Account.objects.filter(pk=account.pk).update(remind_booking_deadlines=enabled)


def rotate_calendar_token(*, family: Family) -> str:
    """Give the family's calendar feed a new private address; the old one stops working."""
    import secrets

    token = secrets.token_urlsafe(32)
    Family.objects.filter(pk=family.pk).update(ical_token=token)
    return token


def revoke_calendar_token(*, family: Family) -> None:
    Family.objects.filter(pk=family.pk).update(ical_token=None)
