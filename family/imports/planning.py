"""Dossiers → what the import would do: each dossier compared with the commune's database
(create, update with the differences, unchanged, or kept as the family holds it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from shared_identity.models import Child, Family, Guardian, Membership, normalize_email
from shared_identity.services import (
    MAX_GUARDIANS,
)

from .columns import FAMILY_FIELDS, FAMILY_LABELS, GUARDIAN_LABELS
from .dossiers import build_dossiers
from .reading import ParsedFile, read_family_csv
from .results import Action, DossierDraft, DossierPlan, ImportPreview, LineError


def _describe(value: str) -> str:
    return f"« {value} »" if value else _("(vide)")


def _one_of(values: Iterable, sql_type: str) -> RawSQL:
    """For ``field__in=``: thousands of values sent as one array parameter (an IN list of
    thousands of placeholders costs more to build and parse than the query itself)."""
    return RawSQL(f"SELECT unnest(%s::{sql_type}[])", [list(values)])  # sql_type: a literal above


def plan_import(*, commune, parsed: ParsedFile) -> ImportPreview:
    drafts, errors = build_dossiers(parsed)
    invalid = {error.dossier for error in errors if error.dossier}
    numbers = list(drafts)
    memberships = {
        m.dossier_number: m
        for m in Membership.objects.filter(
            commune=commune, dossier_number__in=_one_of(numbers, "text")
        ).select_related("family")
    }
    family_ids = [m.family_id for m in memberships.values()]
    guardians: dict[int, list[Guardian]] = defaultdict(list)
    for guardian in Guardian.objects.filter(family_id__in=_one_of(family_ids, "bigint")).order_by("pk"):
        guardians[guardian.family_id].append(guardian)
    children: dict[int, list[Child]] = defaultdict(list)
    for child in Child.objects.filter(family_id__in=_one_of(family_ids, "bigint")).order_by("pk"):
        children[child.family_id].append(child)
    shared = set(
        Membership.objects.filter(family_id__in=_one_of(family_ids, "bigint"))
        .exclude(commune=commune)
        .values_list("family_id", flat=True)
    )
    # Who already uses each e-mail of the file in this commune (a guardian of which dossier).
    emails = {g.email for draft in drafts.values() for g in draft.guardians}
    families_by_email: dict[str, set[int]] = defaultdict(set)
    for email, family_id in Guardian.objects.filter(email__in=_one_of(emails, "text")).values_list(
        "email", "family_id"
    ):
        families_by_email[email].add(family_id)
    dossier_of_family = dict(
        Membership.objects.filter(
            commune=commune,
            family_id__in=_one_of({fid for fids in families_by_email.values() for fid in fids}, "bigint"),
        ).values_list("family_id", "dossier_number")
    )

    plans: list[DossierPlan] = []
    for number, draft in drafts.items():
        for guardian in draft.guardians:
            taken = sorted(
                {
                    dossier_of_family[fid]
                    for fid in families_by_email[guardian.email]
                    if fid in dossier_of_family
                }
                - {number}
            )
            if taken:
                errors.append(
                    LineError(
                        guardian.line,
                        guardian.column,
                        _("%(email)s est déjà responsable du dossier n° %(other)s dans la commune.")
                        % {"email": guardian.email, "other": ", ".join(taken)},
                        number,
                    )
                )
                invalid.add(number)
        plan = DossierPlan(
            number=number, family_name=draft.value("nom_famille"), lines=draft.lines, action="", draft=draft
        )
        membership = memberships.get(number)
        if number in invalid:
            plan.action = Action.INVALID
        elif membership is None:
            plan.action = Action.CREATE
            plan.changes = [_create_summary(draft)]
        else:
            plan.membership_id = membership.pk
            family = membership.family
            _diff(plan, draft, family, guardians[family.pk], children[family.pk])
            if not plan.changes:
                plan.action = Action.UNCHANGED
            elif (
                membership.status != Membership.Status.INVITED
                or family.pk in shared
                or any(g.account_id for g in guardians[family.pk])
            ):
                plan.action = Action.KEPT  # the family keeps its profile: nothing is applied
            elif len(guardians[family.pk]) + len(plan.new_guardians) > MAX_GUARDIANS:
                errors.append(
                    LineError(
                        plan.new_guardians[0].line,
                        plan.new_guardians[0].column,
                        _(
                            "Le dossier n° %(number)s a déjà deux responsables (%(emails)s) : %(email)s serait "
                            "un troisième. Corrigez l'adresse, ou le dossier dans la console."
                        )
                        % {
                            "number": number,
                            "emails": ", ".join(g.email for g in guardians[family.pk]),
                            "email": plan.new_guardians[0].email,
                        },
                        number,
                    )
                )
                plan.action = Action.INVALID
            else:
                plan.action = Action.UPDATE
                plan.family = family
        plans.append(plan)
    errors.sort(key=lambda error: (error.line, error.column))
    return ImportPreview(
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        line_count=len(parsed.rows),
        ignored_columns=parsed.ignored_columns,
        errors=errors,
        plans=plans,
    )


def _create_summary(draft: DossierDraft) -> str:
    guardians = ", ".join(f"{g.first_name} {g.last_name} ({g.email})" for g in draft.guardians)
    if not draft.children:
        return _("Responsables : %(guardians)s ; aucun enfant.") % {"guardians": guardians}
    kids = ", ".join(f"{c.first_name} ({c.birth_date:%d/%m/%Y})" for c in draft.children)
    return _("Responsables : %(guardians)s ; enfants : %(children)s.") % {
        "guardians": guardians,
        "children": kids,
    }


def _diff(
    plan: DossierPlan, draft: DossierDraft, family: Family, guardians: list[Guardian], children: list[Child]
) -> None:
    for key, attr in FAMILY_FIELDS.items():
        new = draft.value(key)
        old = getattr(family, attr)
        if new and new != old:
            plan.family_values[attr] = new
            plan.changes.append(f"{FAMILY_LABELS[key]} : {_describe(old)} → {_describe(new)}")
    by_email = {normalize_email(g.email): g for g in guardians}
    for draft_guardian in draft.guardians:
        known = by_email.get(draft_guardian.email)
        if known is None:
            plan.new_guardians.append(draft_guardian)
            plan.changes.append(
                _("Nouveau responsable : %(first)s %(last)s (%(email)s)")
                % {
                    "first": draft_guardian.first_name,
                    "last": draft_guardian.last_name,
                    "email": draft_guardian.email,
                }
            )
            continue
        changed = False
        for attr, label in GUARDIAN_LABELS:
            new = getattr(draft_guardian, attr)
            old = getattr(known, attr)
            if new and new != old:
                setattr(known, attr, new)
                changed = True
                plan.changes.append(
                    _("Responsable %(email)s, %(what)s : %(old)s → %(new)s")
                    % {"email": known.email, "what": label, "old": _describe(old), "new": _describe(new)}
                )
        if changed:
            plan.guardian_updates.append(known)
    known_children = {(c.first_name.casefold(), c.birth_date): c for c in children}
    for draft_child in draft.children:
        known = known_children.get((draft_child.first_name.casefold(), draft_child.birth_date))
        if known is None:
            plan.new_children.append(draft_child)
            plan.changes.append(
                _("Nouvel enfant : %(first)s %(last)s, né(e) le %(date)s")
                % {
                    "first": draft_child.first_name,
                    "last": draft_child.last_name,
                    "date": f"{draft_child.birth_date:%d/%m/%Y}",
                }
            )
        elif draft_child.last_name != known.last_name:
            plan.changes.append(
                _("Enfant %(first)s (%(date)s), nom : %(old)s → %(new)s")
                % {
                    "first": known.first_name,
                    "date": f"{known.birth_date:%d/%m/%Y}",
                    "old": _describe(known.last_name),
                    "new": _describe(draft_child.last_name),
                }
            )
            known.last_name = draft_child.last_name
            plan.child_updates.append(known)


def preview_family_import(*, commune, data: bytes) -> ImportPreview:
    """What importing ``data`` would do now, without writing anything."""
    return plan_import(commune=commune, parsed=read_family_csv(data))
