"""Checks on files families upload (certificates, request attachments): type sniffed from the
content (never the name), size. And the private storage those files live in, and how one is
streamed to a viewer the caller has checked."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.files.storage import Storage, storages
from django.http import FileResponse
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
ALL_TYPES: tuple[str, ...] = (PDF, JPEG, PNG)
TYPE_LABELS = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}
# The extension a stored file gets, from its sniffed type (the uploaded name is not trusted).
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
SIGNATURES = {
    b"%PDF-": PDF,
    b"\x89PNG\r\n\x1a\n": PNG,
    b"\xff\xd8\xff": JPEG,
}


def private_storage() -> Storage:
    """Where private files go (settings.STORAGES["attachments"]): never served from a URL of
    its own, only streamed by views that check the viewer. Callers prefix paths with the
    commune's schema."""
    return storages["attachments"]


def sniff_type(head: bytes) -> str | None:
    for signature, content_type in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def describe_types(types: Iterable[str]) -> str:
    """("application/pdf", "image/png") → "PDF, PNG"."""
    return ", ".join(TYPE_LABELS[t] for t in ALL_TYPES if t in set(types))


def _sized_and_sniffed(upload, max_bytes: int) -> str | None:
    """The upload's type from its first bytes, once its size is checked (refused: empty, or
    more than ``max_bytes``)."""
    size = getattr(upload, "size", None) or 0
    if size == 0:
        raise FoyerError("empty_file", _("Le fichier est vide."))
    if size > max_bytes:
        raise FoyerError(
            "file_too_large", _("Le fichier dépasse %(max)s Mo.") % {"max": _megabytes(max_bytes)}
        )
    upload.seek(0)
    content_type = sniff_type(upload.read(16))
    upload.seek(0)
    return content_type


def validate_attachment(
    upload, *, allowed_types: Iterable[str] = ALL_TYPES, max_bytes: int = MAX_ATTACHMENT_BYTES
) -> str:
    """Return the sniffed content type, or refuse the file with a clear French message.

    Without arguments: PDF, JPEG or PNG up to 5 Mo (cancellation requests)."""
    allowed = tuple(t for t in ALL_TYPES if t in set(allowed_types))
    content_type = _sized_and_sniffed(upload, max_bytes)
    if content_type is None or content_type not in allowed:
        if allowed == ALL_TYPES:
            message = _("Ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié).")
        else:
            message = _(
                "Ce fichier n'est pas d'un type accepté ici (%(types)s) : son contenu a été vérifié."
            ) % {"types": describe_types(allowed)}
        raise FoyerError("file_type", message)
    return content_type


def validate_image(upload, *, max_bytes: int, max_pixels: int) -> str:
    """A PNG or JPEG image, checked from its content and opened (never trusted from its name),
    at most ``max_bytes`` and ``max_pixels`` on each side: its extension, or a French refusal."""
    from PIL import Image, UnidentifiedImageError

    kind = _sized_and_sniffed(upload, max_bytes)
    if kind not in (PNG, JPEG):
        raise FoyerError(
            "file_type", _("L'image doit être au format PNG ou JPEG (le contenu du fichier a été vérifié).")
        )
    try:
        with Image.open(upload) as image:
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise FoyerError(
            "file_unreadable",
            _("Cette image est illisible ou abîmée : enregistrez-la à nouveau en PNG ou JPEG."),
        ) from None
    finally:
        upload.seek(0)
    if width > max_pixels or height > max_pixels:
        raise FoyerError(
            "image_too_large",
            _("L'image mesure au plus %(max)s × %(max)s pixels (celle-ci : %(width)s × %(height)s).")
            % {"max": max_pixels, "width": width, "height": height},
        )
    return EXTENSIONS[kind]


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return str(int(value)) if value == int(value) else f"{value:.1f}".replace(".", ",")


def stream_attachment(attachment) -> FileResponse:
    """A private document, to a viewer the caller has checked (never cached, never sniffed)."""
    try:
        stream = attachment.file.open("rb")
    except (FileNotFoundError, OSError):
        raise NotFound(_("Ce document n'existe pas.")) from None
    response = FileResponse(
        stream, as_attachment=True, filename=attachment.download_name, content_type=attachment.content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
