"""News images: checked from their content (JPEG or PNG only, 2 Mo at most), stored in the
private attachments storage under "<schema>/actualites/", never reachable by a URL of theirs."""

from __future__ import annotations

import secrets

from django.core.files.storage import Storage, storages
from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from foyer.uploads import sniff_type

MAX_IMAGE_BYTES = 2 * 1024 * 1024
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def storage() -> Storage:
    return storages["attachments"]


def validate_news_image(upload) -> str:
    """The sniffed content type of an uploaded image, or a refusal in French."""
    size = getattr(upload, "size", None) or 0
    if size == 0:
        raise FoyerError("empty_file", _("Le fichier de l'image est vide."))
    if size > MAX_IMAGE_BYTES:
        raise FoyerError(
            "file_too_large",
            _("L'image dépasse %(max)s Mo : réduisez-la avant de l'envoyer.")
            % {"max": MAX_IMAGE_BYTES // (1024 * 1024)},
        )
    upload.seek(0)
    content_type = sniff_type(upload.read(16))
    upload.seek(0)
    if content_type not in EXTENSIONS:
        raise FoyerError(
            "file_type",
            _("Ce fichier n'est pas une image JPEG ou PNG (son contenu a été vérifié, pas son nom)."),
        )
    return content_type


def save_news_image(*, schema_name: str, upload, content_type: str) -> str:
    """Store a checked image under an unguessable name; return its name in the storage."""
    name = f"{schema_name}/actualites/{secrets.token_hex(16)}.{EXTENSIONS[content_type]}"
    upload.seek(0)
    return storage().save(name, upload)


def delete_news_image(name: str) -> None:
    if name:
        storage().delete(name)
