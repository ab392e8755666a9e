"""The uploaded file between the preview and the import: kept in the cache for its agent
only, under the commune's schema and a random token."""

from __future__ import annotations

import datetime as dt
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import NotFound
from shared_identity.models import Account, Invitation, Membership

from .columns import MAX_AGE_SECONDS, MAX_BYTES
from .reading import check_upload_size, read_family_csv
from .results import ImportResult
from .writing import import_family_dossiers


@dataclass(frozen=True)
class StoredImport:
    token: str
    file_name: str
    data: bytes | None
    result: ImportResult | None
    uploaded_at: dt.datetime


def _key(commune, token: str) -> str:
    # The cache also prefixes every key with the current schema (django_tenants.cache.make_key).
    return f"family-import:{commune.schema_name}:{token}"


def store_family_import(*, commune, actor: Account, upload) -> str:
    """Keep an uploaded file for its preview and import (MAX_AGE_SECONDS, this agent only) once
    it reads as a whole; a file that does not is refused here, and nothing is kept."""
    check_upload_size(upload.size)
    data = upload.read(MAX_BYTES + 1)
    read_family_csv(data)
    token = secrets.token_urlsafe(24)
    cache.set(
        _key(commune, token),
        {
            "commune_id": commune.pk,
            "actor_id": actor.pk,
            "file_name": (getattr(upload, "name", "") or "")[:200],
            "data": zlib.compress(data),
            "result": None,
            "uploaded_at": timezone.now(),
        },
        MAX_AGE_SECONDS,
    )
    return token


def get_family_import(*, commune, actor: Account, token: str) -> StoredImport:
    """The file this agent uploaded in this commune; the same 404 for unknown, expired, another
    commune's and another agent's."""
    stored = cache.get(_key(commune, token)) if token else None
    if not stored or stored["commune_id"] != commune.pk or stored["actor_id"] != actor.pk:
        raise NotFound(
            _(
                "Cet import n'existe pas ou a expiré (un fichier déposé est gardé une heure) : "
                "déposez à nouveau le fichier."
            )
        )
    return StoredImport(
        token=token,
        file_name=stored["file_name"],
        data=zlib.decompress(stored["data"]) if stored["data"] else None,
        result=ImportResult(**stored["result"]) if stored["result"] else None,
        uploaded_at=stored["uploaded_at"],
    )


def confirm_family_import(*, commune, actor: Account, token: str, valid_only: bool) -> ImportResult:
    """Import the kept file (validated again now). Once imported, only the result is kept."""
    stored = get_family_import(commune=commune, actor=actor, token=token)
    if stored.result is not None:
        return stored.result
    result = import_family_dossiers(commune=commune, actor=actor, data=stored.data, valid_only=valid_only)
    cache.set(
        _key(commune, token),
        {
            "commune_id": commune.pk,
            "actor_id": actor.pk,
            "file_name": stored.file_name,
            "data": None,
            "result": asdict(result),
            "uploaded_at": stored.uploaded_at,
        },
        MAX_AGE_SECONDS,
    )
    return result


def list_never_invited(*, commune, membership_ids: Iterable[int]) -> list[int]:
    """Of these dossiers, the ones of the commune not activated and never sent a link."""
    return list(
        Membership.objects.filter(
            commune=commune, pk__in=list(membership_ids), status=Membership.Status.INVITED
        )
        .filter(~Exists(Invitation.objects.filter(membership=OuterRef("pk"), kind=Invitation.Kind.FAMILY)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
