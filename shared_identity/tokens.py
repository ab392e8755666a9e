import hashlib
import secrets


def new_token() -> tuple[str, str]:
    """A one-time link token and the hash we keep of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
