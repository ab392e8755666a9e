"""The second guardian: invited by the first with their own login, joining the family in
every commune."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from tenants import outbox

from ..models import (
    Account,
    Family,
    Guardian,
    Invitation,
    normalize_email,
)
from ..selectors import (
    get_family_for_account,
    get_guardian_invitation_for_token,
)
from ..tokens import new_token
from .inputs import ProfileInput, check_email_into, invalid
from .invitations import create_account

MAX_GUARDIANS = 2


def invite_guardian(*, actor: Account, family_id: int, email: str) -> Invitation:
    """A guardian invites the family's other guardian: a one-time link (72 h) to create an
    account (or sign in with theirs) and become a guardian of this family, in all its communes.
    Inviting again replaces the previous link."""
    email = normalize_email(email)
    errors: dict[str, list[str]] = {}
    check_email_into(errors, "email", email)
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
        from ..tasks import send_guardian_invitation_email

        outbox.enqueue(send_guardian_invitation_email, invitation_id=invitation.pk, token=token)
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
        account = create_account(
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
