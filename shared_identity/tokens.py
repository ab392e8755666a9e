import secrets

from foyer.hashers import hash_token

__all__ = ["hash_token", "new_token"]


def new_token() -> tuple[str, str]:
    """A one-time link token and the hash we keep of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)
