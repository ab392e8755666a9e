import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _import_settings(module: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup(); print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": f"{ROOT}/platform:{ROOT}", "DJANGO_SETTINGS_MODULE": module, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _import_settings("foyer.settings.production")
    assert result.returncode != 0
    assert "The SECRET_KEY environment variable is required" in result.stderr


def test_production_starts_with_its_configuration():
    result = _import_settings("foyer.settings.production", SECRET_KEY="x" * 50, FOYER_ENCRYPTION_KEY="k" * 44)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_configuration_comes_from_the_environment():
    from foyer.settings.base import celery_url, database_from_url

    db = database_from_url("postgresql://foyer:s3cret@db.example:6543/foyer")
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.example", 6543, "foyer", "foyer")
    assert db["ENGINE"] == "django_tenants.postgresql_backend"
    socket = database_from_url("postgresql://postgres:@/foyer?host=/tmp/pg")
    assert socket["HOST"] == "/tmp/pg"
    assert celery_url("unix:///tmp/redis.sock") == "redis+socket:///tmp/redis.sock"
    assert celery_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
