"""Requests (demandes) in a commune: the default categories, a family, files of each kind.

Files go to a fresh private folder per test (the attachments storage, moved to tmp_path), so
that "nothing was stored" is checked exactly."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile

from demandes import services
from demandes.models import RequestAttachment, RequestCategory
from shared_identity.models import Membership
from tenants.context import commune_context
from tests.conftest import make_family

PDF = b"%PDF-1.4\n%fake but well-formed head\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

_defaults = importlib.import_module("demandes.migrations.0002_default_categories")


@pytest.fixture(autouse=True)
def private_files(tmp_path, monkeypatch) -> FileSystemStorage:
    storage = FileSystemStorage(location=str(tmp_path / "private"))
    monkeypatch.setattr(RequestAttachment._meta.get_field("file"), "storage", storage)
    monkeypatch.setattr(services, "private_storage", lambda: storage)
    return storage


def stored_files(storage: FileSystemStorage) -> list[str]:
    """Every file in the private folder, as schema-prefixed names."""
    from pathlib import Path

    root = Path(storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def install_default_categories(commune) -> None:
    """What the data migration gives every commune (the session communes are emptied)."""
    with commune_context(commune):
        _defaults.create_default_categories(django_apps, None)


def category(commune, code: str) -> RequestCategory:
    with commune_context(commune):
        return RequestCategory.objects.get(code=code)


def pdf(name: str = "piece.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def png(name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def guardian_of(membership: Membership):
    return membership.family.guardians.get().account


@pytest.fixture
def defaults_a(commune_a) -> None:
    install_default_categories(commune_a)


@pytest.fixture
def defaults_b(commune_b) -> None:
    install_default_categories(commune_b)


@pytest.fixture
def family_a(commune_a, defaults_a) -> Membership:
    return make_family(commune_a, email="parent@example.fr")


@pytest.fixture
def other_family_a(commune_a, defaults_a) -> Membership:
    return make_family(commune_a, email="voisin@example.fr", name="Durand", dossier="F00002")


PICKUP_ANSWERS = {
    "personne_autorisee": "Jeanne Martin",
    "lien": "Grand-mère",
    "telephone": "06 12 34 56 78",
    "date_debut": "2027-01-11",
}


def file_pickup(commune, membership: Membership, *, attachments=None, answers=None):
    """A request "Autorisation de récupération d'un enfant" with an identity document."""
    family = membership.family
    with commune_context(commune):
        return services.submit_request(
            family=family,
            actor=guardian_of(membership),
            category=RequestCategory.objects.get(code="autorisation-recuperation"),
            answers=answers if answers is not None else dict(PICKUP_ANSWERS),
            attachments=attachments if attachments is not None else [("piece_identite", pdf("cni.pdf"))],
            child=family.children.get(),
        )
