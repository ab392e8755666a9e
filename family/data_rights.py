"""Data rights (RGPD): "Télécharger mes données" (an archive built by a task, downloadable by
its account only, for 7 days) and "Supprimer mon compte" (the identity is anonymised once no
invoice of the account's families is open in any commune; invoices stay as issued).

Who leaves: a guardian deletes *their* account. When the family keeps another guardian with
an active account, only this guardian leaves the family (their guardian row goes, the family,
its children and address stay with the other guardian). Otherwise the whole family identity
(name, address, phones, guardians, children) is anonymised too and its files in the communes
are closed (suspended)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from shared_identity import notifications
from shared_identity.models import (
    DATA_EXPORT_LIFETIME,
    Account,
    Child,
    DataExport,
    DeletionRequest,
    EmailChange,
    Family,
    Guardian,
    Invitation,
    Membership,
    StaffRole,
)
from shared_identity.selectors import get_pending_deletion
from tenants import outbox

from .router import OpenInvoice, list_open_invoices_of

logger = logging.getLogger(__name__)

ANONYMOUS_DOMAIN = "anonyme.invalid"
# A pending export older than this with no task waiting in the outbox lost its task (a broker
# that lost its queue, a worker killed mid-build): it is queued again.
EXPORT_STUCK_AFTER = dt.timedelta(minutes=10)


def _attachments():
    return storages["attachments"]


def _transition(obj, status: str) -> None:
    if status not in obj.TRANSITIONS[obj.status]:
        raise FoyerError("invalid_transition", _("Cette opération n'est plus possible."), status=409)
    obj.status = status


# --- "Télécharger mes données" ----------------------------------------------------------------


def request_data_export(*, actor: Account) -> DataExport:
    """Queue the archive; one at a time per account (asking again while it is being prepared
    returns the same one)."""
    from .tasks import build_data_export_task

    with transaction.atomic(durable=True):
        Account.objects.select_for_update().filter(pk=actor.pk).first()
        export = DataExport.objects.filter(account=actor, status=DataExport.Status.PENDING).first()
        if export is not None:
            return export
        export = DataExport.objects.create(account=actor)
        outbox.enqueue(build_data_export_task, topic=_export_topic(export.pk), export_id=export.pk)
    return export


def _export_topic(export_id: int) -> str:
    return f"data_export:{export_id}"


def requeue_stuck_data_exports(*, now: dt.datetime | None = None) -> int:
    """Queue again the exports pending for longer than EXPORT_STUCK_AFTER whose task neither
    waits in the outbox nor was queued within EXPORT_STUCK_AFTER (every few minutes, by beat). Building is idempotent: a task that
    was only slow finds the export ready and stops. Returns how many were queued again."""
    from .tasks import build_data_export_task

    now = now or timezone.now()
    requeued = 0
    for export_id in DataExport.objects.filter(
        status=DataExport.Status.PENDING, created_at__lte=now - EXPORT_STUCK_AFTER
    ).values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            export = DataExport.objects.select_for_update().filter(pk=export_id).first()
            if export is None or export.status != DataExport.Status.PENDING:
                continue
            if outbox.queued_since(_export_topic(export_id), since=now - EXPORT_STUCK_AFTER):
                continue
            logger.warning("Data export %s was stuck pending: queued again", export_id)
            outbox.enqueue(build_data_export_task, topic=_export_topic(export_id), export_id=export_id)
            requeued += 1
    return requeued


def build_data_export(*, export_id: int, now: dt.datetime | None = None) -> DataExport | None:
    """Build the archive, store it under exports/ (not a commune's folder), tell the account.
    Idempotent: an export that is no longer pending is left alone."""
    from .export_archive import build_archive_file

    export = DataExport.objects.select_related("account").filter(pk=export_id).first()
    if export is None or export.status != DataExport.Status.PENDING:
        # Already built (a retried task), or the account was deleted meanwhile.
        return export
    archive = build_archive_file(export.account)
    storage = _attachments()
    name = storage.save(f"exports/{secrets.token_urlsafe(24)}.zip", File(archive, name="export.zip"))
    archive.close()
    now = now or timezone.now()
    try:
        with transaction.atomic(durable=True):
            export = (
                DataExport.objects.select_for_update().select_related("account").filter(pk=export_id).first()
            )
            if export is None or export.status != DataExport.Status.PENDING:
                # Built twice (a retried task): keep the first archive.
                transaction.on_commit(lambda: storage.delete(name))
                return export
            _transition(export, DataExport.Status.READY)
            export.file_name = name
            export.size = storage.size(name)
            export.ready_at = now
            export.expires_at = now + DATA_EXPORT_LIFETIME
            export.save(update_fields=["status", "file_name", "size", "ready_at", "expires_at"])
            notifications.send_after_commit(
                "data_export_ready",
                {
                    "account": export.account,
                    "export": export,
                    "link": settings.FOYER_BASE_URL
                    + reverse("portal:data_export_download", args=[export.pk]),
                },
                to=[export.account.email],
            )
    except BaseException:
        storage.delete(name)
        raise
    return export


def mark_data_export_failed(*, export_id: int) -> None:
    with transaction.atomic(durable=True):
        export = DataExport.objects.select_for_update().filter(pk=export_id).first()
        if export is not None and export.status == DataExport.Status.PENDING:
            _transition(export, DataExport.Status.FAILED)
            export.save(update_fields=["status"])


def expire_data_exports(*, now: dt.datetime | None = None) -> int:
    """Delete the archives past their date (daily, by beat). Returns how many expired."""
    now = now or timezone.now()
    storage = _attachments()
    expired = 0
    for export_id in DataExport.objects.filter(
        status=DataExport.Status.READY, expires_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            export = DataExport.objects.select_for_update().get(pk=export_id)
            if export.status != DataExport.Status.READY:
                continue
            _transition(export, DataExport.Status.EXPIRED)
            export.save(update_fields=["status"])
            name = export.file_name
            transaction.on_commit(lambda name=name: storage.delete(name))
        expired += 1
    return expired


# --- "Supprimer mon compte" -------------------------------------------------------------------


def request_account_deletion(
    *, actor: Account, password: str, confirmed: bool, now: dt.datetime | None = None
) -> tuple[DeletionRequest, list[OpenInvoice]]:
    """File the deletion. With no open invoice anywhere, the account is anonymised at once
    (status "completed"); otherwise the request waits ("pending") and the daily task completes
    it once they are paid. Returns the request and the invoices that hold it."""
    errors: dict[str, list[str]] = {}
    if not actor.check_password(password or ""):
        errors["password"] = [_("Mot de passe incorrect.")]
    if not confirmed:
        errors["confirmed"] = [_("Cochez la case pour confirmer la suppression de votre compte.")]
    if errors:
        raise FoyerError(
            "invalid",
            _("Votre compte n'a pas été supprimé : corrigez les erreurs."),
            extra={"fields": errors},
        )
    if StaffRole.objects.filter(account=actor).exists():
        raise FoyerError(
            "staff_account",
            _(
                "Ce compte est aussi celui d'un agent de commune : demandez à l'administrateur de la "
                "commune de retirer votre rôle, puis supprimez votre compte."
            ),
            status=409,
        )
    open_invoices = list_open_invoices_of(actor)
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        Account.objects.select_for_update().filter(pk=actor.pk).first()
        deletion = get_pending_deletion(actor) or DeletionRequest.objects.create(account=actor)
        deletion.last_checked_at = now
        deletion.save(update_fields=["last_checked_at"])
        if open_invoices:
            notifications.send_after_commit(
                "account_deletion_pending", {"account": actor, "invoices": open_invoices}, to=[actor.email]
            )
        else:
            _complete(deletion, now=now)
    return deletion, open_invoices


def cancel_account_deletion(*, actor: Account) -> None:
    with transaction.atomic(durable=True):
        deletion = (
            DeletionRequest.objects.select_for_update()
            .filter(account=actor, status=DeletionRequest.Status.PENDING)
            .first()
        )
        if deletion is None:
            raise FoyerError("no_deletion", _("Aucune demande de suppression n'est en cours."), status=404)
        _transition(deletion, DeletionRequest.Status.CANCELLED)
        deletion.cancelled_at = timezone.now()
        deletion.save(update_fields=["status", "cancelled_at"])


def complete_pending_deletions(*, now: dt.datetime | None = None) -> int:
    """Daily (beat): complete the deletions whose invoices are all paid now. One family-router
    query per pending request. Returns the number completed."""
    now = now or timezone.now()
    completed = 0
    pending = DeletionRequest.objects.filter(status=DeletionRequest.Status.PENDING).select_related("account")
    for deletion in pending:
        if list_open_invoices_of(deletion.account):
            DeletionRequest.objects.filter(pk=deletion.pk).update(last_checked_at=now)
            continue
        with transaction.atomic(durable=True):
            deletion = DeletionRequest.objects.select_for_update().get(pk=deletion.pk)
            if deletion.status != DeletionRequest.Status.PENDING:
                continue
            deletion.last_checked_at = now
            _complete(deletion, now=now)
        completed += 1
    return completed


def _complete(deletion: DeletionRequest, *, now: dt.datetime) -> None:
    account = Account.objects.select_for_update().get(pk=deletion.account_id)
    old_email = account.email
    _anonymise(account, now=now)
    _transition(deletion, DeletionRequest.Status.COMPLETED)
    deletion.completed_at = now
    deletion.save(update_fields=["status", "completed_at", "last_checked_at"])
    notifications.send_after_commit("account_deleted", {}, to=[old_email])


def _anonymise(account: Account, *, now: dt.datetime) -> None:
    family_ids = list(Guardian.objects.filter(account=account).values_list("family_id", flat=True))
    families = list(Family.objects.select_for_update().filter(pk__in=family_ids).order_by("pk"))
    for family in families:
        stays = (
            Guardian.objects.filter(family=family, account__is_active=True).exclude(account=account).exists()
        )
        if stays:
            # Only this guardian leaves; the family stays with the other guardian.
            Guardian.objects.filter(family=family, account=account).delete()
        else:
            _anonymise_family(family, now=now)
    old_email = account.email
    Invitation.objects.filter(email=old_email).exclude(used_at__isnull=True).update(
        email=f"compte-{account.pk}@{ANONYMOUS_DOMAIN}"
    )
    Invitation.objects.filter(email=old_email, used_at__isnull=True).delete()
    EmailChange.objects.filter(account=account).delete()
    storage = _attachments()
    for export in DataExport.objects.filter(account=account).exclude(file_name=""):
        name = export.file_name
        transaction.on_commit(lambda name=name: storage.delete(name))
    DataExport.objects.filter(account=account).delete()
    account.email = f"compte-supprime-{account.pk}@{ANONYMOUS_DOMAIN}"
    account.first_name = ""
    account.last_name = ""
    account.phone = ""
    account.is_active = False
    account.remind_booking_deadlines = False
    account.notify_invoices = False
    account.notify_requests = False
    account.notify_news = False
    account.set_unusable_password()
    account.save()


def _anonymise_family(family: Family, *, now: dt.datetime) -> None:
    family.name = _("Famille anonymisée")
    family.address_line = ""
    family.postcode = ""
    family.city = ""
    family.home_phone = ""
    family.ical_token = None
    family.save()
    for guardian in Guardian.objects.filter(family=family):
        guardian.first_name = _("Responsable")
        guardian.last_name = _("anonymisé")
        guardian.email = f"responsable-{guardian.pk}@{ANONYMOUS_DOMAIN}"
        guardian.phone = ""
        guardian.account = None
        guardian.save()
    for child in Child.objects.filter(family=family):
        child.first_name = _("Enfant")
        child.last_name = _("anonymisé")
        # The year stays (age groups in the communes' statistics); the day does not.
        child.birth_date = child.birth_date.replace(month=1, day=1)
        child.save()
    Invitation.objects.filter(family=family).delete()
    Invitation.objects.filter(membership__family=family, used_at__isnull=True).delete()
    Invitation.objects.filter(membership__family=family).update(
        email=f"famille-{family.pk}@{ANONYMOUS_DOMAIN}"
    )
    Membership.objects.filter(family=family).exclude(status=Membership.Status.SUSPENDED).update(
        status=Membership.Status.SUSPENDED, suspended_at=now
    )
