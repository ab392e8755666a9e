"""A family asks another commune that uses Foyer to open its file ("adhérer à d'autres
collectivités"), and can withdraw its request; an expired activation link asks the commune for
a new one. The commune's decision (family.joining) is e-mailed to the family."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from tenants.models import Commune

from .. import notifications
from ..models import Account, Invitation, JoinRequest, Membership
from ..selectors import get_family_for_account
from ..tokens import hash_token
from .inputs import check_max_length_into, invalid


def joinable_communes(family) -> list[Commune]:
    """The communes open to families that the family does not belong to yet."""
    return list(
        Commune.objects.filter(status=Commune.Status.ACTIVE, opened_at__isnull=False)
        .exclude(memberships__family=family)
        .order_by("name")
    )


def request_to_join(
    *,
    account: Account,
    family_id: int,
    commune_id: int | None,
    child_ids: list[int],
    dossier_number: str = "",
    message: str = "",
) -> JoinRequest:
    dossier_number, message = (dossier_number or "").strip(), (message or "").strip()
    family = get_family_for_account(account, family_id)
    errors: dict[str, list[str]] = {}
    commune = next((c for c in joinable_communes(family) if c.pk == commune_id), None)
    if commune is None:
        errors["commune"] = [_("Choisissez une commune de la liste.")]
    children = list(family.children.filter(pk__in=child_ids))
    if not children or len(children) != len(set(child_ids)):
        errors["children"] = [_("Choisissez au moins un de vos enfants.")]
    check_max_length_into(errors, "dossier_number", dossier_number, 30)
    check_max_length_into(errors, "message", message, 2000)
    if errors:
        raise invalid(_("La demande n'a pas été envoyée : corrigez les erreurs."), errors)
    try:
        with transaction.atomic(durable=True):
            request = JoinRequest.objects.create(
                family=family,
                commune=commune,
                account=account,
                dossier_number=dossier_number,
                message=message,
            )
            request.children.set(children)
    except IntegrityError:
        raise FoyerError(
            "join_pending",
            _("Une demande est déjà en cours auprès de %(commune)s.") % {"commune": commune.name},
            status=409,
        ) from None
    return request


def cancel_join_request(*, account: Account, request_id: int) -> JoinRequest:
    with transaction.atomic(durable=True):
        request = (
            JoinRequest.objects.select_for_update()
            .filter(pk=request_id, family__guardians__account=account)
            .first()
        )
        if request is None:
            raise NotFound(_("Cette demande n'existe pas."))
        if request.status != JoinRequest.Status.PENDING:
            raise FoyerError("already_decided", _("Cette demande a déjà été traitée."), status=409)
        request.status = JoinRequest.Status.CANCELLED
        request.save(update_fields=["status"])
    return request


def refuse_join_request(*, commune, actor: Account, request_id: int, reason: str) -> JoinRequest:
    """A refusal says why (it is e-mailed to the family)."""
    reason = (reason or "").strip()
    if not reason:
        raise invalid(
            _("La demande n'a pas été refusée : indiquez le motif."),
            {"reason": [_("Ce champ est obligatoire pour un refus.")]},
        )
    with transaction.atomic(durable=True):
        request = pending_join_request(commune=commune, request_id=request_id, lock=True)
        request.status, request.reason = JoinRequest.Status.REFUSED, reason
        request.decided_at, request.decided_by = timezone.now(), actor
        request.save(update_fields=["status", "reason", "decided_at", "decided_by"])
        tell_family_of_decision(request)
    return request


def pending_join_request(*, commune, request_id: int, lock: bool = False) -> JoinRequest:
    """A request to this commune still waiting for its decision (else not found / 409)."""
    rows = JoinRequest.objects.select_related("family").filter(commune=commune, pk=request_id)
    request = (rows.select_for_update(of=("self",)) if lock else rows).first()
    if request is None:
        raise NotFound(_("Cette demande n'existe pas."))
    if request.status != JoinRequest.Status.PENDING:
        raise FoyerError("already_decided", _("Cette demande a déjà été traitée."), status=409)
    return request


def tell_family_of_decision(request: JoinRequest) -> None:
    emails = notifications.recipients([request.family_id]).get(request.family_id, [])
    notifications.send_after_commit(
        "join_request_decision", {"request": request, "commune": request.commune}, to=emails
    )


def request_link_renewal(*, commune, token: str) -> bool:
    """From an expired activation link: the commune is asked for a new one (its agents see it
    on the dossier and resend). Says nothing more about the link than the page already did."""
    with transaction.atomic(durable=True):
        invitation = (
            Invitation.objects.select_for_update()
            .filter(
                commune=commune,
                kind=Invitation.Kind.FAMILY,
                token_hash=hash_token(token),
                used_at__isnull=True,
                membership__status=Membership.Status.INVITED,
            )
            .first()
        )
        if invitation is None or not invitation.is_expired():
            return False
        invitation.renewal_requested_at = timezone.now()
        invitation.save(update_fields=["renewal_requested_at"])
    return True
