"""Tests: the real PostgreSQL and Redis from DATABASE_URL / REDIS_URL, else embedded ones."""

from foyer import embedded

embedded.ensure_services()

from .base import *  # noqa: E402,F403
from .base import attachments_storage, env  # noqa: E402

SECRET_KEY = "foyer-tests"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FOYER_BASE_URL = "http://testserver"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
MEDIA_ROOT = env("TEST_MEDIA_ROOT", "/tmp/foyer-test-media")
PRIVATE_FILES_ROOT = env("TEST_PRIVATE_FILES_ROOT", "/tmp/foyer-test-private")
STORAGES["attachments"] = attachments_storage(PRIVATE_FILES_ROOT)

# Tasks run in-process after commit; the Celery test starts a real worker on Redis.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "foyer-tests"
