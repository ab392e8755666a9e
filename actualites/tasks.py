"""News e-mails: right after an item is published, and by beat for scheduled items once
their publication time is reached. Each runs in its commune's schema (TenantTask)."""

from __future__ import annotations

import datetime as dt

from foyer.celery import app
from tenants.tasks import TenantTask, send_to_every_commune

from . import services


@app.task(base=TenantTask)
def send_news_emails(*, item_id: int | None = None, now: str | None = None) -> int:
    """E-mail the member families about one item (or every visible item not e-mailed yet)."""
    return services.send_news_emails(item_id=item_id, now=dt.datetime.fromisoformat(now) if now else None)


@app.task
def send_news_emails_everywhere() -> None:
    """Beat: in every commune, the scheduled items that became visible are e-mailed."""
    send_to_every_commune(send_news_emails)
