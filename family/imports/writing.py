"""The import itself: the kept file read and planned again against the database, then every
dossier created or updated in one transaction (or none), with its audit entries."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

import audit
from foyer.errors import FoyerError
from shared_identity.models import Account, Child, Family, Guardian, Membership

from .planning import plan_import
from .reading import read_family_csv
from .results import Action, DossierPlan, ImportRefused, ImportResult

logger = logging.getLogger(__name__)


def import_family_dossiers(*, commune, actor: Account, data: bytes, valid_only: bool = False) -> ImportResult:
    """Import the file in one transaction. With an error anywhere nothing is written, unless
    ``valid_only``: then the dossiers without errors are imported and the others left out."""
    parsed = read_family_csv(data)
    try:
        with transaction.atomic(durable=True):
            # The same lock as the dossier numbering: one import (or new dossier) at a time per
            # commune, so the validation below still holds when the rows are written.
            type(commune).objects.select_for_update().filter(pk=commune.pk).first()
            preview = plan_import(commune=commune, parsed=parsed)
            if preview.has_errors and not valid_only:
                raise ImportRefused(
                    _(
                        "Rien n'a été importé : %(count)s ligne(s) en erreur. Corrigez le fichier et déposez-le à "
                        "nouveau, ou importez seulement les dossiers valides."
                    )
                    % {"count": preview.error_lines},
                    preview,
                )
            created = _create_dossiers(commune=commune, plans=preview.by_action(Action.CREATE))
            _update_dossiers(plans=preview.by_action(Action.UPDATE))
            _record_import(preview=preview, created=created)
    except IntegrityError as exc:
        raise FoyerError(
            "import_conflict",
            _(
                "Rien n'a été importé : des dossiers ont été modifiés pendant l'import. "
                "Affichez à nouveau l'aperçu, puis relancez l'import."
            ),
            status=409,
        ) from exc
    by_number = {m.dossier_number: m.pk for m in created}
    ids = [
        plan.membership_id or by_number.get(plan.number)
        for plan in preview.plans
        if plan.action != Action.INVALID
    ]
    result = ImportResult(
        created=len(created),
        updated=preview.count(Action.UPDATE),
        unchanged=preview.count(Action.UNCHANGED),
        kept=preview.count(Action.KEPT),
        skipped=preview.count(Action.INVALID),
        membership_ids=[pk for pk in ids if pk],
    )
    logger.info(
        "family import in %s by account %s: %s created, %s updated, %s unchanged, %s kept, %s skipped",
        commune.schema_name,
        actor.pk,
        result.created,
        result.updated,
        result.unchanged,
        result.kept,
        result.skipped,
    )
    return result


def _create_dossiers(*, commune, plans: list[DossierPlan]) -> list[Membership]:
    if not plans:
        return []
    families = Family.objects.bulk_create(
        [
            Family(
                name=plan.draft.value("nom_famille"),
                address_line=plan.draft.value("adresse"),
                postcode=plan.draft.value("code_postal"),
                city=plan.draft.value("ville"),
            )
            for plan in plans
        ],
        batch_size=1000,
    )
    Guardian.objects.bulk_create(
        [
            Guardian(
                family=family, first_name=g.first_name, last_name=g.last_name, email=g.email, phone=g.phone
            )
            for family, plan in zip(families, plans, strict=True)
            for g in plan.draft.guardians
        ],
        batch_size=1000,
    )
    Child.objects.bulk_create(
        [
            Child(family=family, first_name=c.first_name, last_name=c.last_name, birth_date=c.birth_date)
            for family, plan in zip(families, plans, strict=True)
            for c in plan.draft.children
        ],
        batch_size=1000,
    )
    return Membership.objects.bulk_create(
        [
            Membership(family=family, commune=commune, dossier_number=plan.number)
            for family, plan in zip(families, plans, strict=True)
        ],
        batch_size=1000,
    )


def _update_dossiers(*, plans: list[DossierPlan]) -> None:
    families = []
    for plan in plans:
        for attr, value in plan.family_values.items():
            setattr(plan.family, attr, value)
        if plan.family_values:
            families.append(plan.family)
    if families:
        Family.objects.bulk_update(families, ["name", "address_line", "postcode", "city"], batch_size=500)
    guardians = [g for plan in plans for g in plan.guardian_updates]
    if guardians:
        Guardian.objects.bulk_update(guardians, ["first_name", "last_name", "phone"], batch_size=500)
    Guardian.objects.bulk_create(
        [
            Guardian(
                family=plan.family,
                first_name=g.first_name,
                last_name=g.last_name,
                email=g.email,
                phone=g.phone,
            )
            for plan in plans
            for g in plan.new_guardians
        ]
    )
    children = [c for plan in plans for c in plan.child_updates]
    if children:
        Child.objects.bulk_update(children, ["last_name"], batch_size=500)
    Child.objects.bulk_create(
        [
            Child(family=plan.family, first_name=c.first_name, last_name=c.last_name, birth_date=c.birth_date)
            for plan in plans
            for c in plan.new_children
        ],
        batch_size=1000,
    )


def _record_import(*, preview, created: list) -> None:
    """import_family_dossiers: one entry per dossier created or
    updated (what the preview said, old and new values), and one for the import."""
    if not audit.in_staff_scope():  # not a staff member's request: a task, a command
        return
    by_number = {membership.dossier_number: membership.pk for membership in created}
    entries = []
    for plan in preview.plans:
        if plan.action not in (Action.CREATE, Action.UPDATE):
            continue
        membership_id = plan.membership_id or by_number.get(plan.number)
        label = f"n° {plan.number} ({plan.family_name})"
        verb = "create" if plan.action == Action.CREATE else "update"
        entries.append(
            {
                "action": f"membership.import_{verb}",
                "object_type": "membership",
                "object_id": membership_id,
                "object_label": label[:255],
                "summary": (
                    _("Import CSV : création du dossier %(dossier)s")
                    if verb == "create"
                    else _("Import CSV : mise à jour du dossier %(dossier)s")
                )
                % {"dossier": label},
                "changes": {"import": list(plan.changes)},
            }
        )
    counts = preview.counts
    entries.insert(
        0,
        {
            "action": "family_import.run",
            "object_type": "family_import",
            "summary": _(
                "Import de familles (CSV) : %(created)s créé(s), %(updated)s mis à jour, "
                "%(unchanged)s inchangé(s), %(kept)s tenu(s) par la famille, %(skipped)s en erreur."
            )
            % {
                "created": counts[Action.CREATE],
                "updated": counts[Action.UPDATE],
                "unchanged": counts[Action.UNCHANGED],
                "kept": counts[Action.KEPT],
                "skipped": counts[Action.INVALID],
            },
            "changes": {key: counts[key] for key in Action.values},
        },
    )
    audit.record_many(entries)
