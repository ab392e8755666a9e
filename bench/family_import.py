"""Benchmark: importing 5,000 family dossiers from a CSV file (the console's import).

    python bench/family_import.py [--dossiers 5000] [--changed 10] [--keep-db]

Provisions one commune and one agent, writes a CSV file of --dossiers families the way the
import page documents it (";" separator, UTF-8 with BOM, one line per child: 1 to 3 children,
a second guardian in one family out of three), and times, in this process through
django.test.Client (force_login, no HTTP server), what the agent waits for:

1. upload: POST the file (read, checked as a whole, compressed into the cache);
2. preview: GET the preview page (parse, validate every line, compare with the database, render);
3. import: POST "Importer" (validated again, then everything written in one transaction);
4. the same file again: upload, preview, import (every dossier unchanged, nothing written);
5. a file where --changed % of the dossiers have a new address and a new child: upload,
   preview, import (those dossiers updated);
6. the families list filtered on "Jamais invitée" (the activation status of 5,000 dossiers).

It prints the wall time and SQL queries (`SET search_path` not counted) of each step, and checks
the rows written (dossiers, guardians, children; nothing changed by the second import; exactly
the changed dossiers updated by the third): it exits 1 when a check fails, never on time.

It runs in its own database (`foyer_bench_import`) on the configured PostgreSQL (DATABASE_URL,
or the embedded one), dropped and created again, dropped at the end unless --keep-db: your data
is not touched. Provisioning enqueues the administrator's invitation on the Celery broker
(REDIS_URL); the script removes it from the queue afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
from benchdb import run_in_bench_database  # noqa: E402

BENCH_DB = "foyer_bench_import"
HEADER = (
    "numero_dossier;nom_famille;adresse;code_postal;ville;resp1_prenom;resp1_nom;resp1_email;"
    "resp1_telephone;resp2_prenom;resp2_nom;resp2_email;resp2_telephone;enfant_prenom;enfant_nom;"
    "enfant_date_naissance"
)
FIRST_NAMES = ["Léa", "Hugo", "Chloé", "Noé", "Zoé", "Jules", "Inès", "Louis", "Éva", "Gabriel"]


def make_csv(dossiers: int, *, changed_every: int = 0) -> tuple[bytes, dict]:
    """The file, and what it holds. With changed_every=n, one dossier in n has another address
    and one more child."""
    lines = [HEADER]
    guardians = children = changed = 0
    for index in range(dossiers):
        name = f"Famille{index:05d}"
        number = f"F{index + 1:05d}"
        address = f"{index % 200 + 1} rue des Écoles"
        extra_child = changed_every and index % changed_every == 0
        if extra_child:
            address = f"{index % 200 + 1} avenue Nouvelle"
            changed += 1
        second = index % 3 == 0
        guardians += 2 if second else 1
        kids = [
            (FIRST_NAMES[(index + k) % len(FIRST_NAMES)] + ("" if k == 0 else f"{k}"), dt.date(2012 + k * 3, index % 12 + 1, index % 27 + 1))
            for k in range(index % 3 + 1)
        ]  # fmt: skip
        if extra_child:
            kids.append(("Bébé", dt.date(2024, 6, 1)))
        children += len(kids)
        family = (
            f"{number};{name};{address};38000;JolieVille;Camille;{name};parent{index}@exemple.fr;06 01 02 03 04;"
            + (f"Dominique;{name};second{index}@exemple.fr;;" if second else ";;;;")
        )
        for first, birth in kids:
            lines.append(f"{family}{first};{name};{birth:%d/%m/%Y}")
    data = ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
    return data, {
        "dossiers": dossiers,
        "lines": len(lines) - 1,
        "guardians": guardians,
        "children": children,
        "changed": changed,
    }


def identity_fingerprint() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM shared_identity_membership), (SELECT count(*) FROM shared_identity_family),"
            " (SELECT count(*) FROM shared_identity_guardian), (SELECT count(*) FROM shared_identity_child),"
            " (SELECT md5(string_agg(concat_ws('|', id, name, address_line, postcode, city), ',' ORDER BY id))"
            "  FROM shared_identity_family),"
            " (SELECT md5(string_agg(concat_ws('|', id, family_id, first_name, last_name, email, phone), ','"
            "  ORDER BY id)) FROM shared_identity_guardian),"
            " (SELECT md5(string_agg(concat_ws('|', id, family_id, first_name, last_name, birth_date), ','"
            "  ORDER BY id)) FROM shared_identity_child)"
        )
        row = cursor.fetchone()
    return dict(zip(["memberships", "families", "guardians", "children", "f", "g", "c"], row, strict=True))


def timed_request(label: str, call, steps: list) -> object:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = call()
        seconds = time.perf_counter() - started
    count = sum(1 for q in queries.captured_queries if not q["sql"].startswith("SET search_path"))
    steps.append((label, seconds, count, len(response.content)))
    if response.status_code not in (200, 302):
        raise SystemExit(f"{label}: HTTP {response.status_code}")
    return response


def run(args) -> int:
    import html
    import re

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from operators.services import provision_commune
    from shared_identity.models import Account, StaffRole
    from tenants import schemas

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
    load_at_start = os.getloadavg()[0]
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, stdout=io.StringIO())
    schemas.ensure_template_schema()
    commune = provision_commune(name="Commune Import", slug="import", admin_email="admin@import.test")
    agent = Account.objects.create_user(
        email="agent@import.test", password=None, first_name="A", last_name="Gent"
    )
    StaffRole.objects.create(account=agent, commune=commune, role=StaffRole.Role.AGENT)
    first, expected = make_csv(args.dossiers)
    changed_every = max(1, round(100 / args.changed)) if args.changed else 0
    second, expected_changed = make_csv(args.dossiers, changed_every=changed_every)

    client = Client()
    client.force_login(agent)
    base = f"/c/{commune.slug}/console/familles/"
    steps: list = []
    errors: list[str] = []

    def round_trip(tag: str, data: bytes) -> str:
        response = timed_request(
            f"{tag}: upload",
            lambda: client.post(
                f"{base}import/",
                {"fichier": SimpleUploadedFile("familles.csv", data, content_type="text/csv")},
            ),
            steps,
        )
        if response.status_code != 302:
            refusal = re.search(r'<p class="error"[^>]*>([^<]+)</p>', response.content.decode())
            raise SystemExit(
                f"{tag}: the upload was refused: {html.unescape(refusal.group(1)) if refusal else '?'}"
            )
        token = re.search(r"/import/([\w-]+)/$", response["Location"]).group(1)
        preview = timed_request(f"{tag}: preview", lambda: client.get(f"{base}import/{token}/"), steps)
        done = timed_request(
            f"{tag}: import", lambda: client.post(f"{base}import/{token}/importer/", {"mode": "all"}), steps
        )
        if done.status_code != 302:
            errors.append(f"{tag}: the import was refused")
        return preview.content.decode()

    page = round_trip("1st file", first)
    if f"<strong>{expected['dossiers']}</strong> dossiers à créer" not in page:
        errors.append("1st file: the preview does not announce every dossier to create")
    after_first = identity_fingerprint()
    for key in ("guardians", "children"):
        if after_first[key] != expected[key]:
            errors.append(f"1st file: {after_first[key]} {key} written, {expected[key]} expected")
    if after_first["memberships"] != expected["dossiers"]:
        errors.append(
            f"1st file: {after_first['memberships']} dossiers written, {expected['dossiers']} expected"
        )

    page = round_trip("same file", first)
    if "Les dossiers du fichier sont déjà à jour" not in page:
        errors.append("same file: the preview does not say nothing will change")
    if identity_fingerprint() != after_first:
        errors.append("same file: rows changed")

    page = round_trip(f"{args.changed} % changed", second)
    if f"<strong>{expected_changed['changed']}</strong> dossiers à mettre à jour" not in page:
        errors.append("changed file: the preview does not announce the updates")
    after_changed = identity_fingerprint()
    if (
        after_changed["children"] != expected_changed["children"]
        or after_changed["memberships"] != args.dossiers
    ):
        errors.append("changed file: wrong rows after the update")

    timed_request(
        "families list, filter « Jamais invitée »", lambda: client.get(base, {"activation": "never"}), steps
    )

    try:
        from foyer.celery import app

        app.control.purge()  # the administrator's invitation provisioning enqueued; no worker here
    except Exception as exc:  # the broker is down: nothing was queued either
        print(f"(could not purge the Celery queue: {exc})")

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL {connection.pg_version // 10000} ({connection.settings_dict['HOST'] or 'socket'}); "
        f"load average (1 min) {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"file: {expected['dossiers']} dossiers, {expected['lines']} lines, {len(first) / 1024 / 1024:.2f} MB; "
        f"{expected['guardians']} guardians, {expected['children']} children; changed file: "
        f"{expected_changed['changed']} dossiers with a new address and a new child"
    )
    print(f"{'step':<45} {'seconds':>8} {'queries':>8} {'HTML kB':>8}")
    for label, seconds, count, size in steps:
        print(f"{label:<45} {seconds:>8.2f} {count:>8} {size / 1024:>8.0f}")
    for error in errors:
        print(f"CHECK FAILED: {error}")
    if not errors:
        print(
            "check: OK (rows written as in the file; the same file again changed nothing; the changes applied)"
        )
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=5000)
    parser.add_argument(
        "--changed", type=int, default=10, help="percentage of dossiers changed in the 3rd file"
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    return run_in_bench_database(BENCH_DB, run, args, keep_db=args.keep_db)


if __name__ == "__main__":
    sys.exit(main())
