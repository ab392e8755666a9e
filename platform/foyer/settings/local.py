"""The demo and development: embedded PostgreSQL and Redis unless the URLs are set."""

from foyer import embedded

embedded.ensure_services()

from .base import *  # noqa: E402,F403
from .base import BASE_DIR, env, env_bool  # noqa: E402

# DEBUG=0 runs the local server as production does (no query log, no debug pages): the
# benchmarks measure it so.
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env("SECRET_KEY", "foyer-local-development-key-not-for-production")
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATICFILES_DIRS = [BASE_DIR / "static"]
