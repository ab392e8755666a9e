"""Run Foyer with demo data: web server, Celery worker and beat, embedded PostgreSQL and
Redis unless DATABASE_URL / REDIS_URL are set. Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from operators.demo import (
    COMMUNES,
    DEMO_PASSWORD,
    FAKE_MOLLIE_ACCOUNTS,
    FAKE_PAYFIP_CLIENTS,
    OPERATOR_EMAIL,
    PARENT_EMAIL,
)

ROOT = Path(settings.BASE_DIR)


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Set up the demo data and run the web server, a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("FOYER_PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("FOYER_HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
        call_command("seed_demo")
        data = ROOT / ".data"
        data.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "foyer.settings.local",
            "FOYER_BASE_URL": os.environ.get("FOYER_BASE_URL", f"http://localhost:{port}"),
        }
        python = sys.executable
        processes = []
        if "MOLLIE_API_ENDPOINT" not in os.environ:
            # Pay invoices end to end with no Mollie account: the fake server on loopback, which
            # accepts the demo régies' key only.
            mollie_port = int(os.environ.get("FOYER_FAKE_MOLLIE_PORT", "8765"))
            env["MOLLIE_API_ENDPOINT"] = f"http://127.0.0.1:{mollie_port}"
            accounts = [f"--account={key}={name}" for key, name in FAKE_MOLLIE_ACCOUNTS.items()]
            processes.append(
                subprocess.Popen(
                    [python, "-m", "billing.fake_mollie", "--port", str(mollie_port), *accounts],
                    cwd=ROOT,
                    env=env,
                )
            )
        if "PAYFIP_ENDPOINT" not in os.environ:
            # The same for the régies paid through PayFiP: a fake PayFiP that knows their client numbers.
            payfip_port = int(os.environ.get("FOYER_FAKE_PAYFIP_PORT", "8766"))
            env["PAYFIP_ENDPOINT"] = f"http://127.0.0.1:{payfip_port}"
            clients = [f"--client={numcli}={name}" for numcli, name in FAKE_PAYFIP_CLIENTS.items()]
            processes.append(
                subprocess.Popen(
                    [python, "-m", "billing.fake_payfip", "--port", str(payfip_port), *clients],
                    cwd=ROOT,
                    env=env,
                )
            )
        processes += [
            subprocess.Popen(
                [python, "-m", "celery", "-A", "foyer", "worker", "--loglevel=WARNING", "--concurrency=2"],
                cwd=ROOT,
                env=env,
            ),
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "foyer",
                    "beat",
                    "--loglevel=WARNING",
                    f"--schedule={data / 'celerybeat-schedule'}",
                ],
                cwd=ROOT,
                env=env,
            ),
            subprocess.Popen([python, "manage.py", "runserver", f"{host}:{port}"], cwd=ROOT, env=env),
        ]
        self._print_welcome(env["FOYER_BASE_URL"])
        # A plain `kill` stops the demo as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
            self.stderr.write("Un des processus de la démo s'est arrêté : arrêt de la démo.")
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _print_welcome(self, base_url: str) -> None:
        lines = [
            "",
            "Foyer tourne avec des données de démonstration.",
            f"  Portail des familles   {base_url}/",
        ]
        for spec in COMMUNES:
            lines.append(
                f"  {spec['name']:<22} {base_url}/c/{spec['slug']}/   (console : /c/{spec['slug']}/console/)"
            )
        lines += [
            f"  Console opérateur      {base_url}/operateur/",
            "",
            f"Comptes (mot de passe commun : {DEMO_PASSWORD})",
            f"  Parent (deux communes) {PARENT_EMAIL}",
        ]
        for spec in COMMUNES:
            lines.append(f"  Admin {spec['slug']:<16} {spec['admin']}")
        lines += [
            f"  Opérateur              {OPERATOR_EMAIL}",
            "",
            "Paiements en ligne : un faux Mollie local (boutons Payé / Échoué / Annulé / Expiré) et, pour les",
            "factures de la collectivité de Collectivité Démo, un faux PayFiP (boutons Payé / Refusé / Annulé).",
            f"Les e-mails envoyés (activation, mot de passe) sont écrits dans {settings.EMAIL_FILE_PATH}/",
            "Ctrl-C pour tout arrêter.",
            "",
        ]
        self.stdout.write("\n".join(lines))
