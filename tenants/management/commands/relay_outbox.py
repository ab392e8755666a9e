"""Hand the outbox's pending messages to Celery now (beat does it every few seconds)."""

from django.core.management.base import BaseCommand

from tenants import outbox


class Command(BaseCommand):
    help = "Transmet à Celery les messages en attente dans la boîte d'envoi (e-mails et tâches)."

    def handle(self, *args, **options):
        sent = outbox.relay_pending()
        self.stdout.write(f"{sent} message(s) transmis.")
