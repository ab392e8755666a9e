from django.core.cache import cache
from django.utils import timezone

from foyer.celery import app

BEAT_HEARTBEAT_KEY = "foyer:beat:last-run"


@app.task
def record_beat_heartbeat() -> None:
    """Beat's proof of life, read by the operators' health page."""
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)
