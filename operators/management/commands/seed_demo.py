from django.core.management import call_command
from django.core.management.base import BaseCommand

from operators.demo import seed_demo


class Command(BaseCommand):
    help = "Migrate, then create the demo communes, family, staff and operator (idempotent)."

    def handle(self, *args, **options):
        call_command("migrate_communes", no_progress=True, verbosity=0)
        seed_demo()
        self.stdout.write(self.style.SUCCESS("Données de démonstration prêtes."))
