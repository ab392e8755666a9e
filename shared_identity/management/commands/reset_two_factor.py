"""Remove an account's two-factor devices (lost phone and backup codes), after checking the
person's identity outside Foyer."""

from django.core.management.base import BaseCommand, CommandError

from shared_identity.models import Account, normalize_email
from shared_identity.two_factor import reset_two_factor


class Command(BaseCommand):
    help = "Retire la double authentification d'un compte (téléphone et codes de secours perdus)."

    def add_arguments(self, parser):
        parser.add_argument("email", help="adresse de connexion du compte")

    def handle(self, *args, **options):
        account = Account.objects.filter(email=normalize_email(options["email"])).first()
        if account is None:
            raise CommandError(f"Aucun compte ne porte l'adresse {options['email']}.")
        if reset_two_factor(account=account):
            self.stdout.write(
                self.style.SUCCESS(
                    f"Double authentification retirée pour {account.email} ; ses sessions sont fermées. "
                    "À sa prochaine connexion, la personne la configure de nouveau."
                )
            )
        else:
            self.stdout.write(f"{account.email} n'avait pas de double authentification.")
