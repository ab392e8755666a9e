"""Production: every secret comes from the environment, with no default."""

from .base import *  # noqa: F403
from .base import (
    CONTENT_SECURITY_POLICY,
    DATABASES,
    FOYER_ENCRYPTION_KEY,
    REDIS_URL,
    SECRET_KEY,
    env_bool,
    require,
)

require("SECRET_KEY", SECRET_KEY)
require("DATABASE_URL", DATABASES)
require("REDIS_URL", REDIS_URL)
require("FOYER_ENCRYPTION_KEY", FOYER_ENCRYPTION_KEY)

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Browser policy (HTTPS only) -------------------------------------------------------
# One year of HTTPS, for the platform's subdomains too. Preload stays off: being on the
# browsers' preload list is hard to undo, and is a decision for whoever owns the domain.
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    **CONTENT_SECURITY_POLICY,
    "DIRECTIVES": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "upgrade-insecure-requests": True},
}
