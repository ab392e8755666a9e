"""A database router that makes a query on commune data without a commune fail loudly."""

from django.conf import settings
from django.db import connection

from .context import TenantContextMissing

_TENANT_ONLY_APPS = frozenset(settings.TENANT_APPS) - frozenset(settings.SHARED_APPS)


class TenantContextRouter:
    """Raises when a commune table is read or written while no commune is selected.

    Without it, PostgreSQL would answer "relation does not exist" from the public schema,
    or worse, a stale search_path could point at another commune.
    """

    def _check(self, model) -> None:
        if model._meta.app_label in _TENANT_ONLY_APPS and connection.schema_name == "public":
            raise TenantContextMissing(
                f"{model._meta.label} is commune data: select a commune (commune_context) first."
            )

    def db_for_read(self, model, **hints):
        self._check(model)
        return None

    def db_for_write(self, model, **hints):
        self._check(model)
        return None
