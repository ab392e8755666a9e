"""Checks on files families upload (certificates): type sniffed from the content, size."""

from __future__ import annotations

from django.utils.translation import gettext as _

from foyer.errors import FoyerError

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


def sniff_type(head: bytes) -> str | None:
    for signature, content_type in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    return None


def validate_attachment(upload) -> str:
    """Return the sniffed content type, or refuse the file with a clear French message."""
    size = getattr(upload, "size", None) or 0
    if size == 0:
        raise FoyerError("empty_file", _("Le fichier est vide."))
    if size > MAX_ATTACHMENT_BYTES:
        raise FoyerError(
            "file_too_large",
            _("Le fichier dépasse %(max)s Mo.") % {"max": MAX_ATTACHMENT_BYTES // (1024 * 1024)},
        )
    upload.seek(0)
    content_type = sniff_type(upload.read(16))
    upload.seek(0)
    if content_type is None:
        raise FoyerError(
            "file_type", _("Ce fichier n'est ni un PDF, ni une image JPEG ou PNG (le contenu a été vérifié).")
        )
    return content_type
