"""Commune schemas keep plain ids of the public accounts, families and children, without a
database foreign key: the public identity tables carry no trigger per commune, deleting an
identity row locks nothing in the communes, and what the keys guaranteed is kept by
family.identity (merges repoint every commune's rows; a daily check reports orphans)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, connection

from billing.models import Invoice, default_regie_id
from family import identity
from family.activation import merge_dossier
from family.data_rights import request_account_deletion
from family.tasks import check_identity_references
from operators.health import get_platform_health
from operators.services import provision_commune
from reservations.models import Cart
from shared_identity.models import Account, Child, Family, Guardian, Membership
from tenants.context import commune_context
from tests.conftest import PASSWORD, make_family

IDENTITY_TABLES = ("shared_identity_account", "shared_identity_family", "shared_identity_child")
# Tables, their indexes and identity sequences in one commune schema (toast tables apart).
EMPTY_COMMUNE_RELATIONS = 246


def _identity_triggers() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[])",
            [[f"public.{table}" for table in IDENTITY_TABLES]],
        )
        return cursor.fetchone()[0]


def _foreign_keys_into_public_from_communes() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint con "
            "JOIN pg_class target ON target.oid = con.confrelid "
            "JOIN pg_namespace tn ON tn.oid = target.relnamespace "
            "JOIN pg_namespace cn ON cn.oid = con.connamespace "
            "WHERE con.contype = 'f' AND tn.nspname = 'public' AND cn.nspname <> 'public'"
        )
        return cursor.fetchone()[0]


def test_every_identity_column_of_the_communes_is_known_and_unconstrained(db):
    references = {ref.label: ref.target for ref in identity.identity_references()}
    assert references["reservations_booking.family_id"] == "shared_identity_family"
    assert references["reservations_booking.child_id"] == "shared_identity_child"
    assert references["billing_invoice.family_id"] == "shared_identity_family"
    assert references["demandes_request.created_by_id"] == "shared_identity_account"
    assert references["audit_auditentry.actor_id"] == "shared_identity_account"
    assert references["billing_debitmandate.family_id"] == "shared_identity_family"
    assert len(references) == 40
    assert _foreign_keys_into_public_from_communes() == 0


def test_an_account_of_many_communes_is_erased_without_locking_each_commune(
    db, django_capture_on_commit_callbacks
):
    # given the identity tables' triggers, then 12 more communes provisioned (in the test's one
    # transaction: each clone holds a lock on its ~240 new relations until the rollback)
    triggers = _identity_triggers()
    communes = [
        provision_commune(name=f"Commune {n}", slug=f"efface-{n}", admin_email=f"admin{n}@efface.test")
        for n in range(12)
    ]
    # then provisioning added no trigger to the shared identity tables
    assert _identity_triggers() == triggers
    assert _foreign_keys_into_public_from_communes() == 0
    # given a family in each of them, with an open cart in each
    membership = make_family(communes[0], email="parent@example.fr")
    family, account = membership.family, membership.family.guardians.get().account
    for n, commune in enumerate(communes[1:], start=2):
        Membership.objects.create(family=family, commune=commune, dossier_number=f"F{n:05}", status="active")
    for commune in communes:
        with commune_context(commune):
            Cart.objects.create(family=family, account=account)
    schema_names = [commune.schema_name for commune in communes]
    # when the parent deletes their account (the RGPD path: anonymised, every membership closed)
    with django_capture_on_commit_callbacks(execute=True):
        deletion, open_invoices = request_account_deletion(actor=account, password=PASSWORD, confirmed=True)
    assert (deletion.status, open_invoices) == ("completed", [])
    assert set(Membership.objects.filter(family=family).values_list("status", flat=True)) == {"suspended"}
    assert identity.find_orphans(schema_names) == []
    # and even a raw delete of the account row goes through: nothing in the communes blocks it
    Account.objects.filter(pk=account.pk).delete()
    # the daily check then reports the 12 carts that point at it, one line per commune
    orphans = identity.find_orphans(schema_names)
    assert sorted(orphans) == sorted(
        identity.Orphan(name, "reservations_cart.account_id", 1) for name in schema_names
    )


def test_a_merged_dossier_takes_its_invoices_and_children_of_every_table(db, commune_a, commune_b):
    # given a family active in A, and B's dossier of the same parent with Léa and an invoice
    family = make_family(commune_a, email="parent@example.fr").family
    dossier = make_family(commune_b, email="parent@example.fr", active=False, dossier="B00001").family
    dossier_lea = dossier.children.get()
    with commune_context(commune_b):
        invoice = Invoice.objects.create(
            regie_id=default_regie_id(),
            family=dossier,
            period_start=dt.date(2026, 11, 1),
            period_end=dt.date(2026, 11, 30),
            total=Decimal("12.30"),
        )
        # when the dossier is merged into the family
        merge_dossier(dossier=dossier, into=family, account=family.guardians.get().account)
        # then B's invoice follows the family, and the dossier and its Léa are gone
        invoice.refresh_from_db()
    assert invoice.family_id == family.pk
    assert not Family.objects.filter(pk=dossier.pk).exists()
    assert not Child.objects.filter(pk=dossier_lea.pk).exists()
    assert identity.find_orphans([commune_a.schema_name, commune_b.schema_name]) == []


def test_identity_rows_still_pointed_at_are_not_deleted(db, commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    child = family.children.get()
    with commune_context(commune_a):
        Cart.objects.create(family=family, account=account)
    try:
        identity.delete_family_rows(family=family, children=[child.pk], schema_names=[commune_a.schema_name])
    except IntegrityError as error:
        assert "reservations_cart.family_id" in str(error)
    else:
        raise AssertionError("a family still referenced was deleted")
    assert Family.objects.filter(pk=family.pk).exists()
    assert Child.objects.filter(pk=child.pk).exists()


def test_the_daily_check_reports_orphans_on_the_health_page(db, commune_a):
    family = make_family(commune_a, email="parent@example.fr").family
    account = family.guardians.get().account
    cache.delete(identity.ORPHANS_REPORT_KEY)
    line = next(line for line in get_platform_health().lines if line.key == "identity")
    assert line.status == "attention"
    with commune_context(commune_a):
        Cart.objects.create(family=family, account=account)
    assert check_identity_references() == 0
    line = next(line for line in get_platform_health().lines if line.key == "identity")
    assert (line.status, line.summary.startswith("Aucune référence orpheline")) == ("ok", True)
    # when the account row disappears behind the code's back
    Guardian.objects.filter(account=account).update(account=None)
    Account.objects.filter(pk=account.pk).delete()
    assert check_identity_references() == 1
    line = next(line for line in get_platform_health().lines if line.key == "identity")
    assert line.status == "panne"
    assert f"{commune_a.schema_name}.reservations_cart.account_id (1)" in line.summary
    cache.delete(identity.ORPHANS_REPORT_KEY)


def test_an_empty_commune_stays_small(db, commune_a):
    """The footprint of one commune, multiplied by thousands on one server: no LIKE copy of a
    unique index, no index on the columns that only say who did something."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE c.relname LIKE '%%\\_like') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [commune_a.schema_name],
        )
        relations, like_indexes = cursor.fetchone()
    assert like_indexes == 0
    assert relations == EMPTY_COMMUNE_RELATIONS
