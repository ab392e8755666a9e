"""A guardian who already has an account activates a commune's file: the dossier the commune
opened is merged into the family the account belongs to, and the commune's reservations follow."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from reservations.services import reassign_family
from shared_identity.models import Account, Family, Guardian, Invitation, Membership, normalize_email
from shared_identity.selectors import get_invitation_for_token
from shared_identity.services import complete_activation

from . import identity


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
            merge_dossier(dossier=membership.family, into=target, account=account)
            membership.refresh_from_db()
        else:
            Guardian.objects.filter(family=membership.family, email=invitation.email).update(account=account)
        complete_activation(invitation=invitation, account=account)
        return membership


def merge_dossier(*, dossier: Family, into: Family, account: Account) -> None:
    """Runs in the schema of the commune that opened the dossier. Every commune row that points
    at the dossier (and at its children the family already had) is moved to the family it
    joins, in each commune of the dossier, before the dossier's identity rows are deleted."""
    schema_names = identity.commune_schemas_of(dossier)
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
    identity.repoint_family(old=dossier, new=into, same_child=same_child, schema_names=schema_names)
    known_emails = set(into.guardians.values_list("email", flat=True))
    leaving = []
    for guardian in dossier.guardians.all():
        if guardian.email in known_emails or guardian.email == account.email:
            leaving.append(guardian.pk)
        else:
            guardian.family = into
            guardian.save(update_fields=["family"])
    dossier.memberships.update(family=into)
    for field in ("address_line", "postcode", "city"):
        if not getattr(into, field) and getattr(dossier, field):
            setattr(into, field, getattr(dossier, field))
    into.save()
    identity.delete_family_rows(
        family=dossier, children=same_child, guardians=leaving, schema_names=schema_names
    )
