"""Invitations and activation: a family's activation link, a staff member's invitation,
their delivery, and the account each one creates or joins."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError
from tenants.tasks import enqueue_on_commit

from ..models import (
    Account,
    Guardian,
    Invitation,
    Membership,
    StaffRole,
    normalize_email,
)
from ..selectors import (
    get_account_by_email,
    get_invitation_for_token,
)
from ..tokens import new_token
from .inputs import ProfileInput, check_email_into, invalid, require


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
    check_email_into(errors, "email", email)
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
    from ..tasks import send_invitation_email

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


def activate_family_with_new_account(
    *, commune, token: str, profile: ProfileInput, password: str, password_confirmation: str
) -> Account:
    """First visit of a guardian: complete the profile, choose a password, get one account."""
    with transaction.atomic(durable=True):
        invitation = get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.FAMILY, lock=True
        )
        account = create_account(
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
            account = create_account(
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
    """accept_staff_invitation: the new member acts before they have
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


def create_account(
    *, email: str, profile: ProfileInput, password: str, password_confirmation: str, exists_message: str
) -> Account:
    """Validate a new account's profile and password (all errors at once), then create it."""
    if get_account_by_email(email) is not None:
        raise FoyerError("account_exists", exists_message, status=409)
    errors: dict[str, list[str]] = {}
    require(errors, "first_name", profile.first_name)
    require(errors, "last_name", profile.last_name)
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
