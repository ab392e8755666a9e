"""Activation links for many dossiers at once (after an import, or from the families list):
requested by the agent, sent one by one by a task."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import audit
from foyer.errors import FoyerError
from shared_identity.models import Account, Membership
from shared_identity.services import (
    ensure_open_to_families,
    send_family_invitation,
)
from tenants.tasks import enqueue_on_commit

from .columns import INVITATION_BATCH


@dataclass(frozen=True)
class BulkInvitationRequest:
    queued: int
    already_active: int


def request_family_invitations(
    *, commune, actor: Account, membership_ids: Iterable[int]
) -> BulkInvitationRequest:
    """Send (or send again) the activation link of each of these dossiers of the commune that
    is not activated yet. Tasks after commit, INVITATION_BATCH dossiers each; every link goes
    through send_family_invitation, so each dossier's delivery is tracked as for one."""
    ensure_open_to_families(commune)
    rows = list(
        Membership.objects.filter(commune=commune, pk__in=list(membership_ids)).values_list("pk", "status")
    )
    pending = sorted(pk for pk, status in rows if status == Membership.Status.INVITED)
    if not rows:
        raise FoyerError("nothing_selected", _("Cochez au moins un dossier de la liste."))
    _record_activation_links(commune=commune, membership_ids=pending, already_active=len(rows) - len(pending))
    from family.tasks import send_family_invitations

    for start in range(0, len(pending), INVITATION_BATCH):
        enqueue_on_commit(
            send_family_invitations,
            schema_name=commune.schema_name,
            membership_ids=pending[start : start + INVITATION_BATCH],
            actor_id=actor.pk,
        )
    return BulkInvitationRequest(queued=len(pending), already_active=len(rows) - len(pending))


def send_family_invitations_now(*, commune, membership_ids: list[int], actor_id: int | None) -> int:
    """The task's work: one send_family_invitation (its own transaction, its e-mail after its
    commit) per dossier still waiting for activation. Returns how many were sent."""
    actor = Account.objects.filter(pk=actor_id).first() if actor_id else None
    sent = 0
    for membership in Membership.objects.filter(
        commune=commune, pk__in=membership_ids, status=Membership.Status.INVITED
    ).order_by("pk"):
        try:
            send_family_invitation(membership=membership, actor=actor)
        except FoyerError:
            continue  # activated in the meantime
        sent += 1
    return sent


def _record_activation_links(*, commune, membership_ids: list[int], already_active: int) -> None:
    """request_family_invitations: the links go out from tasks
    (the system's), so the request itself is the staff member's entry."""
    if not audit.in_staff_scope():  # not a staff member's request: a task, a command
        return
    audit.record(
        action="activation.bulk_send",
        object_type="activation",
        summary=ngettext(
            "Liens d'activation envoyés à %(n)d dossier (%(active)d déjà activé(s) laissé(s) de côté).",
            "Liens d'activation envoyés à %(n)d dossiers (%(active)d déjà activé(s) laissé(s) de côté).",
            len(membership_ids),
        )
        % {"n": len(membership_ids), "active": already_active},
        changes={"memberships": list(membership_ids), "already_active": already_active},
    )
