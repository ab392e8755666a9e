"""Production: every secret comes from the environment, with no default."""

from .base import *  # noqa: F403
from .base import DATABASES, FOYER_ENCRYPTION_KEY, REDIS_URL, SECRET_KEY, env_bool, require

require("SECRET_KEY", SECRET_KEY)
require("DATABASE_URL", DATABASES)
require("REDIS_URL", REDIS_URL)
require("FOYER_ENCRYPTION_KEY", FOYER_ENCRYPTION_KEY)

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31536000
SECURE_CONTENT_TYPE_NOSNIFF = True
