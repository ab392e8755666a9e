from django.core.management.base import BaseCommand, CommandError

from foyer.errors import FoyerError
from operators.services import provision_commune
from tenants.models import Commune


class Command(BaseCommand):
    help = "Provision a commune: its schema (a clone of the template), domain and first admin invitation."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--domain", default=None)
        parser.add_argument("--insee-code", default="")
        parser.add_argument("--kind", default=Commune.Kind.COMMUNE, choices=Commune.Kind.values)
        parser.add_argument("--timezone", default="Europe/Paris")

    def handle(self, *args, **options):
        try:
            commune = provision_commune(
                name=options["name"],
                slug=options["slug"],
                admin_email=options["admin_email"],
                domain=options["domain"],
                insee_code=options["insee_code"],
                kind=options["kind"],
                timezone=options["timezone"],
            )
        except FoyerError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.field_errors.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Commune « {commune.name} » créée (schéma {commune.schema_name}) : {commune.absolute_url}"
            )
        )
        self.stdout.write(
            "Elle est en préparation : son administrateur a reçu une invitation et l'ouvrira aux "
            "familles depuis la console (Mise en service)."
        )
