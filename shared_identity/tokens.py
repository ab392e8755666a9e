import secrets

from django.utils.translation import gettext as _

from foyer.errors import FoyerError
from foyer.hashers import hash_token

__all__ = ["api_key_name", "hash_token", "new_token"]


def new_token() -> tuple[str, str]:
    """A one-time link token and the hash we keep of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def api_key_name(name: str | None) -> str:
    """The name given to an API key (a family's or a régie's), trimmed; refused when empty or
    longer than 120 characters."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise FoyerError(
            "invalid",
            _("La clé n'a pas été créée."),
            extra={
                "fields": {"name": [_("Nommez la clé (120 caractères au plus), par exemple le logiciel.")]}
            },
        )
    return name
