"""Test fixtures. Two communes exist in every session (DESIGN: isolation is tested
everywhere); they are provisioned once, committed, and each test runs in a transaction
that is rolled back. Tests that need committed data (a Celery worker, a browser) use
``committed_db``, which wipes what they wrote afterwards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.db import connection
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from billing.models import default_regie_id
from operators.services import provision_commune
from shared_identity.models import Account, Child, Family, Guardian, Membership, StaffRole
from tenants import schemas
from tenants.context import commune_context
from tenants.models import Commune, schema_name_for_slug

PASSWORD = "Une-phrase-de-passe-solide"
SESSION_COMMUNES = {"jolieville": "Commune de JolieVille", "demo": "Collectivité Démo"}


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """The test database, always: pytest-django's own fixture creates it only when a collected
    test asks for `db`, and a run of `committed_db` tests alone would then use the real one."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        schemas.ensure_template_schema()
        for slug, name in SESSION_COMMUNES.items():
            if not Commune.objects.filter(slug=slug).exists():
                provision_commune(name=name, slug=slug, admin_email=f"admin@{slug}.test")
        # The session communes are open to families (onboarding is tested on its own).
        Commune.objects.filter(slug__in=SESSION_COMMUNES, opened_at__isnull=True).update(
            opened_at=timezone.now()
        )
        wipe_identity()
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # Threads of the Celery and browser tests may leave a session open: close them so
        # the test database can be dropped.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with django_db_blocker.unblock():
        teardown_databases(db_cfg, verbosity=0)


def wipe_identity() -> None:
    """Remove every row the tests may commit, keeping the session communes."""
    connection.set_schema_to_public()
    extra = Commune.objects.exclude(slug__in=SESSION_COMMUNES)
    with connection.cursor() as cursor:
        for commune in extra:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schemas.quote_ident(commune.schema_name)} CASCADE")
        cursor.execute(
            "TRUNCATE shared_identity_invitation, shared_identity_staffrole, shared_identity_membership, "
            "shared_identity_child, shared_identity_guardian, shared_identity_family, "
            "shared_identity_account_groups, shared_identity_account_user_permissions, "
            "shared_identity_account, django_session, tenants_outboxmessage CASCADE"
        )
        cursor.execute(
            "SELECT string_agg(format('%%I.%%I', table_schema, table_name), ', ') FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' AND table_name <> 'django_migrations'",
            [[schema_name_for_slug(slug) for slug in SESSION_COMMUNES]],
        )
        tables = cursor.fetchone()[0]
        if tables:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
    extra.delete()
    # Every commune starts with one régie (billing's migration creates it).
    for commune in Commune.objects.filter(slug__in=SESSION_COMMUNES):
        with commune_context(commune):
            default_regie_id()


def clear_rate_limits() -> None:
    """Forget every rate-limit counter (foyer.rate_limits), whatever ran before."""
    cache = caches["limits"]
    client = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client is None:  # the in-memory cache, with no Redis configured
        cache.clear()
        return
    redis = client(write=True)
    keys = list(redis.scan_iter(match=f"{cache.key_prefix}:*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    clear_rate_limits()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Real commits (another thread or process must see the data), wiped afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            wipe_identity()


@pytest.fixture
def commune_a(db) -> Commune:
    return Commune.objects.get(slug="jolieville")


@pytest.fixture
def commune_b(db) -> Commune:
    return Commune.objects.get(slug="demo")


def make_account(email: str, **fields) -> Account:
    return Account.objects.create_user(
        email=email,
        password=PASSWORD,
        first_name=fields.pop("first_name", "Camille"),
        last_name=fields.pop("last_name", "Martin"),
        **fields,
    )


def make_staff(commune: Commune, email: str, role: str = StaffRole.Role.AGENT) -> Account:
    account = make_account(email)
    StaffRole.objects.create(account=account, commune=commune, role=role)
    return account


def make_operator(email: str = "ops@foyer.test") -> Account:
    """A platform operator with a confirmed authenticator app (operators must have one)."""
    account = make_account(email, is_platform_operator=True)
    TOTPDevice.objects.create(user=account, name="Application d'authentification", confirmed=True)
    return account


def login_verified(client, account: Account) -> None:
    """Sign ``client`` in as ``account`` with a session that has given its code (django-otp),
    as after the code step of the login. The account gets an authenticator app if it has none."""
    device = TOTPDevice.objects.filter(user=account, confirmed=True).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=account, name="Application d'authentification", confirmed=True
        )
    client.force_login(account)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def make_family(
    commune: Commune, *, email: str, name: str = "Martin", active: bool = True, dossier: str = "F00001"
) -> Membership:
    family = Family.objects.create(name=name)
    account = make_account(email, last_name=name) if active else None
    Guardian.objects.create(family=family, account=account, first_name="Camille", last_name=name, email=email)
    Child.objects.create(family=family, first_name="Léa", last_name=name, birth_date=dt.date(2017, 5, 14))
    return Membership.objects.create(
        family=family,
        commune=commune,
        dossier_number=dossier,
        status=Membership.Status.ACTIVE if active else Membership.Status.INVITED,
    )


@pytest.fixture
def agent_a(commune_a) -> Account:
    return make_staff(commune_a, "agent@jolieville.test")


@pytest.fixture
def agent_b(commune_b) -> Account:
    return make_staff(commune_b, "agent@demo.test")


def open_to_families(commune: Commune) -> Commune:
    """Open a freshly provisioned commune to families without going through its onboarding
    (tests that are about something else)."""
    Commune.objects.filter(pk=commune.pk).update(opened_at=timezone.now())
    commune.refresh_from_db()
    return commune


def commune_path(commune: Commune, rest: str = "") -> str:
    return f"/c/{commune.slug}/{rest}"
