"""The archive of "Télécharger mes données": everything about an account's families in every
commune where they have a file, as JSON, with the attached documents.

Runs in a Celery task only: it reads each commune in its own context (a loop of queries per
commune is acceptable in a task, never in a request path)."""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import IO

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from actualites.models import NewsRead
from billing.models import CreditNote, Invoice, PaymentAttempt
from demandes.models import Request
from reservations.models import (
    Booking,
    BookingCredit,
    CancellationRequest,
    Cart,
    Enrolment,
    QuotientFamilial,
)
from shared_identity.models import Account, Family, Guardian, Membership
from tenants.context import commune_context

logger = logging.getLogger(__name__)

README = """Foyer — vos données personnelles
==================================

Cette archive contient tout ce que Foyer conserve sur votre compte et sur votre famille,
dans chacune des communes où votre famille a un dossier (RGPD, droit d'accès et à la
portabilité).

- donnees.json : vos données, au format JSON (lisible par un tableur ou un programme).
  - "account" : votre compte (adresse de connexion, nom, téléphone, préférences d'e-mails) ;
  - "families" : vos familles, leurs responsables, leurs enfants et leurs dossiers dans les
    communes ;
  - "communes" : pour chaque commune, les inscriptions, les réservations, les demandes
    d'annulation, les avoirs, les factures (avec leurs lignes et leurs paiements), les
    paiements en ligne, les demandes (avec leur historique et leurs pièces jointes) et les
    actualités que vous avez lues.
- pieces-jointes/ : les documents envoyés avec vos demandes, rangés par commune ; le champ
  "archive_path" de donnees.json indique où trouver chacun.

Les montants sont en euros ; les dates et heures sont au format ISO 8601.
"""


@dataclass
class ArchiveFile:
    """A document to copy into the archive from a storage."""

    archive_path: str
    storage: object
    name: str


@dataclass
class Collected:
    data: dict
    files: list[ArchiveFile] = field(default_factory=list)


def _rows(queryset, *fields: str) -> list[dict]:
    return list(queryset.values(*fields))


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return keep.strip(".-") or "document"


def collect_account_data(account: Account) -> Collected:
    """Read everything: the public identity first, then each commune in its context."""
    connection.set_schema_to_public()
    families = list(Family.objects.filter(guardians__account=account).distinct().order_by("pk"))
    family_ids = [f.pk for f in families]
    memberships = list(
        Membership.objects.filter(family_id__in=family_ids)
        .select_related("commune")
        .order_by("commune__name")
    )
    guardians = Guardian.objects.filter(family_id__in=family_ids).order_by("pk")
    data: dict = {
        "generated_at": timezone.now(),
        "account": {
            "email": account.email,
            "first_name": account.first_name,
            "last_name": account.last_name,
            "phone": account.phone,
            "date_joined": account.date_joined,
            "last_login": account.last_login,
            "notifications": {
                "invoice": account.notify_invoices,
                "request": account.notify_requests,
                "reminder": account.remind_booking_deadlines,
                "news": account.notify_news,
            },
        },
        "families": [
            {
                "id": family.pk,
                "name": family.name,
                "address_line": family.address_line,
                "postcode": family.postcode,
                "city": family.city,
                "home_phone": family.home_phone,
                "created_at": family.created_at,
                "guardians": _rows(
                    guardians.filter(family=family), "first_name", "last_name", "email", "phone"
                ),
                "children": _rows(
                    family.children.order_by("pk"), "id", "first_name", "last_name", "birth_date"
                ),
                "memberships": [
                    {
                        "commune": m.commune.name,
                        "dossier_number": m.dossier_number,
                        "status": m.status,
                        "created_at": m.created_at,
                        "activated_at": m.activated_at,
                    }
                    for m in memberships
                    if m.family_id == family.pk
                ],
            }
            for family in families
        ],
        "communes": [],
    }
    collected = Collected(data=data)
    by_commune: dict[int, tuple] = {}
    for membership in memberships:
        commune, ids = by_commune.get(membership.commune_id, (membership.commune, []))
        ids.append(membership.family_id)
        by_commune[membership.commune_id] = (commune, ids)
    for commune, ids in by_commune.values():
        with commune_context(commune):
            data["communes"].append(_collect_commune(commune, account, ids, collected.files))
    return collected


def _collect_commune(commune, account: Account, family_ids: list[int], files: list[ArchiveFile]) -> dict:
    folder = f"pieces-jointes/{commune.slug}"
    cancellation_requests = []
    for request in CancellationRequest.objects.filter(family_id__in=family_ids).order_by("pk"):
        row = {
            "id": request.pk,
            "booking_id": request.booking_id,
            "reason": request.reason,
            "status": request.status,
            "credit": request.credit,
            "comment": request.comment,
            "created_at": request.created_at,
            "decided_at": request.decided_at,
            "attachment": None,
        }
        if request.attachment:
            path = f"{folder}/annulations/{request.pk}-{_safe(PurePath(request.attachment.name).name)}"
            files.append(ArchiveFile(path, request.attachment.storage, request.attachment.name))
            row["attachment"] = {"archive_path": path}
        cancellation_requests.append(row)

    invoices = []
    for invoice in (
        Invoice.objects.filter(family_id__in=family_ids)
        .exclude(status=Invoice.Status.DRAFT)
        .prefetch_related("lines", "payments")
        .order_by("issued_at", "pk")
    ):
        invoices.append(
            {
                "reference": invoice.reference,
                "period_start": invoice.period_start,
                "period_end": invoice.period_end,
                "status": invoice.status,
                "total": invoice.total,
                "paid_amount": invoice.paid_amount,
                "issued_at": invoice.issued_at,
                "due_date": invoice.due_date,
                "payer_name": invoice.payer_name,
                "payer_address": invoice.payer_address,
                "dossier_number": invoice.dossier_number,
                "lines": [
                    {
                        "kind": line.kind,
                        "label": line.label,
                        "child_name": line.child_name,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                        "amount": line.amount,
                    }
                    for line in invoice.lines.all()
                ],
                "payments": [
                    {
                        "method": payment.method,
                        "amount": payment.amount,
                        "received_at": payment.received_at,
                        "reference": payment.reference,
                    }
                    for payment in invoice.payments.all()
                ],
            }
        )

    requests = []
    for request in (
        Request.objects.filter(family_id__in=family_ids)
        .prefetch_related("events", "attachments__event")
        .order_by("pk")
    ):
        attachments = []
        for attachment in request.attachments.all():
            if attachment.event is not None and not attachment.event.visible_to_family:
                continue
            path = f"{folder}/demandes/{request.pk}-{attachment.pk}-{_safe(attachment.download_name)}"
            files.append(ArchiveFile(path, attachment.file.storage, attachment.file.name))
            attachments.append(
                {
                    "original_name": attachment.original_name,
                    "type": attachment.type_code,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "side": attachment.side,
                    "created_at": attachment.created_at,
                    "archive_path": path,
                }
            )
        requests.append(
            {
                "id": request.pk,
                "title": request.title,
                "child_id": request.child_id,
                "answers": request.answers,
                "status": request.status,
                "created_at": request.created_at,
                "updated_at": request.updated_at,
                "closed_at": request.closed_at,
                # The commune's internal notes and assignments are its working papers.
                "events": [
                    {
                        "kind": event.kind,
                        "side": event.side,
                        "from_status": event.from_status,
                        "to_status": event.to_status,
                        "message": event.message,
                        "created_at": event.created_at,
                    }
                    for event in request.events.all()
                    if event.visible_to_family
                ],
                "attachments": attachments,
            }
        )

    return {
        "commune": {"name": commune.name, "slug": commune.slug},
        "quotients": _rows(
            QuotientFamilial.objects.filter(family_id__in=family_ids).order_by("valid_from"),
            *[f.name for f in QuotientFamilial._meta.concrete_fields if f.name not in ("id", "family")],
        ),
        "enrolments": _rows(
            Enrolment.objects.filter(family_id__in=family_ids).order_by("start", "pk"),
            "child_id",
            "service__name",
            "site__name",
            "start",
            "end",
        ),
        "bookings": _rows(
            Booking.objects.filter(family_id__in=family_ids).order_by("date", "pk"),
            "id",
            "child_id",
            "date",
            "prestation__label",
            "prestation__code",
            "site__name",
            "status",
            "price",
            "late",
            "unbooked",
            "created_at",
            "cancelled_at",
            "cancel_reason",
        ),
        "carts": [
            {
                "status": cart.status,
                "created_at": cart.created_at,
                "items": _rows(
                    cart.items.order_by("date"), "child_id", "prestation__label", "site__name", "date"
                ),
            }
            for cart in Cart.objects.filter(family_id__in=family_ids).order_by("pk")
        ],
        "cancellation_requests": cancellation_requests,
        "booking_credits": _rows(
            BookingCredit.objects.filter(family_id__in=family_ids).order_by("pk"),
            "booking_id",
            "amount",
            "reason",
            "created_at",
            "applied_at",
        ),
        "invoices": invoices,
        "credit_notes": _rows(
            CreditNote.objects.filter(family_id__in=family_ids).order_by("pk"),
            "invoice__reference",
            "amount",
            "reason",
            "created_at",
            "applied_at",
        ),
        "online_payments": _rows(
            PaymentAttempt.objects.filter(family_id__in=family_ids).order_by("pk"),
            "description",
            "amount",
            "status",
            "provider_id",
            "amount_refunded",
            "created_at",
            "settled_at",
        ),
        "requests": requests,
        "news_read": _rows(
            NewsRead.objects.filter(account=account).order_by("read_at"), "item__title", "read_at"
        ),
    }


def write_archive(collected: Collected, out: IO[bytes]) -> None:
    """donnees.json, LISEZMOI.txt and the documents. A document missing from the storage is
    noted in the JSON (``missing_files``) instead of failing the whole archive."""
    missing: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for document in collected.files:
            try:
                with (
                    document.storage.open(document.name, "rb") as source,
                    archive.open(document.archive_path, "w") as target,
                ):
                    for chunk in iter(lambda: source.read(1024 * 1024), b""):
                        target.write(chunk)
            except FileNotFoundError:
                logger.warning("Export: %s is missing from the storage", document.name)
                missing.append(document.archive_path)
        collected.data["missing_files"] = missing
        archive.writestr(
            "donnees.json", json.dumps(collected.data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        )
        archive.writestr("LISEZMOI.txt", README)


def build_archive_file(account: Account) -> IO[bytes]:
    """A temporary file holding the archive (spooled to disk past a few megabytes)."""
    collected = collect_account_data(account)
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    write_archive(collected, out)
    out.seek(0)
    return out
