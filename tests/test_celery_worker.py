"""A real Celery worker on the real Redis delivers an activation e-mail sent from a request."""

import re
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from foyer.celery import app
from shared_identity.models import Invitation, Membership
from tenants.context import TenantContextMissing
from tenants.models import Commune
from tests.conftest import commune_path, make_family, make_staff


@pytest.fixture
def real_worker(settings):
    queue = f"foyer-test-{uuid.uuid4().hex[:8]}"
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10):
            yield queue
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_activation_email_arrives_through_the_worker(committed_db, real_worker, client):
    # given an agent of JolieVille and a family dossier
    commune = Commune.objects.get(slug="jolieville")
    agent = make_staff(commune, "agent@jolieville.test")
    membership = make_family(commune, email="parent@example.fr", active=False)
    client.force_login(agent)
    mail.outbox.clear()
    # when the agent activates the dossier (the request commits, then queues the task)
    response = client.post(commune_path(commune, f"console/familles/{membership.pk}/activation/"))
    assert response.status_code == 302
    # then the worker, in the commune's schema, sends the e-mail and records it
    assert _wait_for(lambda: len(mail.outbox) == 1), "no e-mail from the worker"
    message = mail.outbox[0]
    assert message.to == ["parent@example.fr"]
    assert re.search(r"/c/jolieville/activation/\S+/", message.body)
    assert _wait_for(
        lambda: Invitation.objects.get(membership=membership).delivery == Invitation.Delivery.SENT
    )
    assert Membership.objects.get(pk=membership.pk).status == Membership.Status.INVITED


def test_tenant_task_without_schema_fails_loudly(db):
    from shared_identity.tasks import send_invitation_email

    with pytest.raises(TenantContextMissing):
        send_invitation_email.apply(kwargs={"invitation_id": 1, "token": "x"}).get()


def test_beat_heartbeat_is_recorded_for_the_health_page(db):
    from django.core.cache import cache

    from foyer.celery import app as celery_app
    from operators.tasks import BEAT_HEARTBEAT_KEY, record_beat_heartbeat

    cache.delete(BEAT_HEARTBEAT_KEY)
    record_beat_heartbeat.apply()
    assert cache.get(BEAT_HEARTBEAT_KEY)
    assert "operators.tasks.record_beat_heartbeat" in {
        entry["task"] for entry in celery_app.conf.beat_schedule.values()
    }
