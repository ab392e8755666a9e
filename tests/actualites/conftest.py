"""News in two communes: items made directly in a commune's schema, families, images."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from actualites.models import NewsItem
from shared_identity.models import Membership
from tenants.context import commune_context
from tests.conftest import make_family


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# A real 1×1 PNG and the start of a JPEG (the type is read from the content).
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + _png_chunk(b"IEND", b"")
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


def png(name: str = "affiche.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def jpeg(name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, JPEG, content_type="image/jpeg")


@pytest.fixture(autouse=True)
def attachments(settings, tmp_path) -> Path:
    """Private files of each test in its own folder."""
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def news(commune, title: str = "Fermeture de la cantine", **fields) -> NewsItem:
    """An item written straight into the commune's schema (published an hour ago by default)."""
    fields.setdefault("body", "La cantine sera fermée vendredi.")
    fields.setdefault("publish_at", timezone.now() - dt.timedelta(hours=1))
    with commune_context(commune):
        return NewsItem.objects.create(title=title, **fields)


def member_of_both(commune_a, commune_b, email: str = "parent@example.fr") -> Membership:
    membership = make_family(commune_a, email=email)
    membership.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    return membership


def account_of(membership: Membership):
    return membership.family.guardians.get().account
