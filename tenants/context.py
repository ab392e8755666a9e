"""Explicit commune context for code outside a request (commands, tasks, tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


class TenantContextMissing(RuntimeError):
    """Commune data was touched with no commune selected."""


@contextmanager
def commune_context(commune) -> Iterator[None]:
    """Run a block in a commune's schema and return to the previous one afterwards."""
    previous = connection.tenant
    connection.set_tenant(commune)
    try:
        yield
    finally:
        if previous is None or previous.schema_name == "public":
            connection.set_schema_to_public()
        else:
            connection.set_tenant(previous)
