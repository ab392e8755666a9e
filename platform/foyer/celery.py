"""The Celery application of Foyer.

Tasks that touch commune data are declared with ``base=TenantTask`` (see
``tenants.tasks``): each carries the schema it must run in, explicitly.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "foyer.settings.local")

app = Celery("foyer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
