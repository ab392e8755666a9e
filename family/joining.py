"""A commune accepts a family's request to join it: it links a dossier it already had (merged
into the family, with its reservations) or opens a new one; the family is told by e-mail."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from shared_identity.models import Account, JoinRequest, Membership
from shared_identity.services import invalid, next_dossier_number
from shared_identity.services.join_requests import pending_join_request, tell_family_of_decision
from tenants.context import commune_context

from .activation import merge_dossier


def accept_join_request(*, commune, actor: Account, request_id: int, dossier_number: str = "") -> Membership:
    """Accept: with ``dossier_number``, the commune's existing dossier of that number becomes
    the family's (merged into it when it was another family row); without, a new dossier."""
    dossier_number = (dossier_number or "").strip()
    now = timezone.now()
    with transaction.atomic(durable=True):
        request = pending_join_request(commune=commune, request_id=request_id, lock=True)
        family = request.family
        if dossier_number:
            membership = (
                Membership.objects.select_related("family")
                .filter(commune=commune, dossier_number=dossier_number)
                .first()
            )
            if membership is None:
                raise invalid(
                    _("La demande n'a pas été acceptée : corrigez les erreurs."),
                    {"dossier_number": [_("Aucun dossier de la commune ne porte ce numéro.")]},
                )
            if membership.family_id != family.pk:
                if membership.status == Membership.Status.ACTIVE:
                    raise invalid(
                        _("La demande n'a pas été acceptée : corrigez les erreurs."),
                        {"dossier_number": [_("Ce dossier appartient déjà à une autre famille active.")]},
                    )
                with commune_context(commune):
                    merge_dossier(dossier=membership.family, into=family, account=request.account)
                membership.refresh_from_db()
        else:
            membership = Membership.objects.create(
                family=family, commune=commune, dossier_number=next_dossier_number(commune)
            )
        membership.status, membership.activated_at = Membership.Status.ACTIVE, now
        membership.save(update_fields=["status", "activated_at"])
        request.status, request.membership = JoinRequest.Status.ACCEPTED, membership
        request.decided_at, request.decided_by = now, actor
        request.save(update_fields=["status", "membership", "decided_at", "decided_by"])
        tell_family_of_decision(request)
    return membership
