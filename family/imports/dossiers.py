"""Lines → dossiers: the lines of one dossier number gathered into one family with its
guardians and children, each cell checked."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from shared_identity.models import normalize_email
from shared_identity.services import (
    POSTCODE_RE,
    child_birth_date_problem,
    clean_phone,
)

from .columns import (
    CHILD_MESSAGES,
    COLUMN_BY_KEY,
    COLUMN_GROUPS,
    DATE_RE,
    REQUIRED_MESSAGES,
    SECOND_GUARDIAN_MESSAGES,
)
from .reading import ParsedFile
from .results import ChildDraft, DossierDraft, GuardianDraft, LineError


def _same(a: str, b: str, key: str) -> bool:
    if key.endswith("email"):
        return normalize_email(a) == normalize_email(b)
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _parse_date(value: str) -> dt.date | None:
    match = DATE_RE.match(value)
    if not match:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _cell_problems(key: str, value: str) -> tuple[str, str | None]:
    """The cleaned value of a non-empty cell, and what is wrong with it."""
    column = COLUMN_BY_KEY[key]
    if column.max_length and len(value) > column.max_length:
        return value, _("%(limit)s caractères au plus (la cellule en compte %(count)s).") % {
            "limit": column.max_length,
            "count": len(value),
        }
    if key.endswith("email"):
        value = normalize_email(value)
        try:
            validate_email(value)
        except ValidationError:
            return value, _("« %(value)s » n'est pas une adresse e-mail valide.") % {"value": value}
    elif key.endswith("telephone"):
        phone = clean_phone(value)
        if phone is None:
            return value, _(
                "« %(value)s » n'est pas un numéro de téléphone valide (par exemple 06 12 34 56 78)."
            ) % {"value": value}
        value = phone
    elif key == "code_postal":
        value = value.replace(" ", "")
        if not POSTCODE_RE.match(value):
            return value, _(
                "« %(value)s » n'est pas un code postal : 5 chiffres attendus (un tableur supprime parfois "
                "le 0 du début : mettez la colonne au format texte)."
            ) % {"value": value}
    elif key in ("nom_famille", "adresse", "ville") or key.endswith(("prenom", "_nom")):
        value = " ".join(value.split())
    return value, None


def build_dossiers(parsed: ParsedFile) -> tuple[dict[str, DossierDraft], list[LineError]]:
    headers = parsed.headers
    errors: list[LineError] = []
    reported: set[tuple[str, str]] = set()  # (dossier, column) with an error already
    drafts: dict[str, DossierDraft] = {}
    line_dossier: dict[int, str] = {}

    cleaned_cells: dict[tuple[str, str], tuple[str, str | None]] = {}  # the same cell on many lines

    def error(line: int, key: str, message: str, dossier: str = "") -> None:
        errors.append(LineError(line, headers.get(key, key), str(message), dossier))
        reported.add((dossier, key))

    for line, cells in parsed.rows:
        number = cells.get("numero_dossier", "")
        if not number:
            error(line, "numero_dossier", _("Le numéro de dossier est obligatoire."))
            continue
        line_dossier[line] = number
        cleaned: dict[str, str] = {}
        for key, value in cells.items():
            if not value or key == "numero_dossier":
                continue
            checked = cleaned_cells.get((key, value))
            if checked is None:
                checked = cleaned_cells[(key, value)] = _cell_problems(key, value)
            value, problem = checked
            if problem:
                error(line, key, problem, number)
            else:
                cleaned[key] = value
        if len(number) > COLUMN_BY_KEY["numero_dossier"].max_length:
            error(line, "numero_dossier", _("Le numéro de dossier compte 30 caractères au plus."), number)
        draft = drafts.get(number)
        if draft is None:
            draft = drafts[number] = DossierDraft(number=number, first_line=line)
        draft.lines.append(line)
        for key, value in cleaned.items():
            if key.startswith("enfant_"):
                continue
            known = draft.values.get(key)
            if known is None:
                draft.values[key] = (value, line)
            elif not _same(known[0], value, key):
                error(
                    line,
                    key,
                    _(
                        "Le dossier n° %(number)s a une autre valeur ligne %(other)s (« %(known)s ») : "
                        "une même famille doit avoir les mêmes informations sur toutes ses lignes."
                    )
                    % {"number": number, "other": known[1], "known": known[0]},
                    number,
                )
        if any(cells.get(key) for key in COLUMN_GROUPS[1]):
            _add_child(draft, cells, cleaned, line, error)
    for problem in parsed.errors:  # a line that cannot be split right spoils its dossier
        errors.append(
            LineError(problem.line, problem.column, problem.message, line_dossier.get(problem.line, ""))
        )

    # Dossier-wide checks, on the values gathered from all the lines of each dossier.
    owners: dict[str, tuple[str, int, str]] = {}
    for draft in drafts.values():
        for key, message in REQUIRED_MESSAGES:
            if not draft.value(key) and (draft.number, key) not in reported:
                error(draft.first_line, key, message, draft.number)
        second = [draft.value(f"resp2_{name}") for name in ("prenom", "nom", "email", "telephone")]
        if any(second):
            for key, message in SECOND_GUARDIAN_MESSAGES:
                if not draft.value(key) and (draft.number, key) not in reported:
                    error(draft.line_of("resp2_prenom"), key, message, draft.number)
        if draft.value("resp2_email") and draft.value("resp2_email") == draft.value("resp1_email"):
            error(
                draft.line_of("resp2_email"),
                "resp2_email",
                _(
                    "Les deux responsables ont la même adresse e-mail : chacun a la sienne (chacun se connecte)."
                ),
                draft.number,
            )
        for n in (1, 2):
            email = draft.value(f"resp{n}_email")
            if email and draft.value(f"resp{n}_prenom") and draft.value(f"resp{n}_nom"):
                draft.guardians.append(
                    GuardianDraft(
                        first_name=draft.value(f"resp{n}_prenom"),
                        last_name=draft.value(f"resp{n}_nom"),
                        email=email,
                        phone=draft.value(f"resp{n}_telephone"),
                        line=draft.line_of(f"resp{n}_email"),
                        column=headers.get(f"resp{n}_email", f"resp{n}_email"),
                    )
                )
        for n in (1, 2):
            key = f"resp{n}_email"
            email = draft.value(key)
            if not email:
                continue
            other = owners.get(email)
            if other is None:
                owners[email] = (draft.number, draft.line_of(key), key)
            elif other[0] != draft.number:
                message = _(
                    "%(email)s est aussi un responsable du dossier n° %(other)s (ligne %(line)s) de ce fichier."
                )
                error(
                    draft.line_of(key),
                    key,
                    message % {"email": email, "other": other[0], "line": other[1]},
                    draft.number,
                )
                error(
                    other[1],
                    other[2],
                    message % {"email": email, "other": draft.number, "line": draft.line_of(key)},
                    other[0],
                )
    return drafts, errors


def _add_child(draft: DossierDraft, cells: dict[str, str], cleaned: dict[str, str], line: int, error) -> None:
    ok = True
    for key, message in CHILD_MESSAGES:
        if not cells.get(key):
            error(line, key, message, draft.number)
            ok = False
    raw_date = cells.get("enfant_date_naissance", "")
    birth_date = None
    if raw_date:
        birth_date = _parse_date(raw_date)
        if birth_date is None:
            error(
                line,
                "enfant_date_naissance",
                _("« %(value)s » n'est pas une date : jj/mm/aaaa attendu (par exemple 14/05/2017).")
                % {"value": raw_date},
                draft.number,
            )
            ok = False
        else:
            problem = child_birth_date_problem(birth_date)
            if problem:
                error(line, "enfant_date_naissance", f"{problem} ({raw_date})", draft.number)
                ok = False
    if not ok or "enfant_prenom" not in cleaned or "enfant_nom" not in cleaned:
        return
    child = ChildDraft(cleaned["enfant_prenom"], cleaned["enfant_nom"], birth_date, line)
    for known in draft.children:
        if known.first_name.casefold() == child.first_name.casefold() and known.birth_date == birth_date:
            if known.last_name.casefold() != child.last_name.casefold():
                error(
                    line,
                    "enfant_nom",
                    _("%(name)s, né(e) le %(date)s, figure déjà ligne %(line)s avec le nom « %(other)s ».")
                    % {
                        "name": child.first_name,
                        "date": raw_date,
                        "line": known.line,
                        "other": known.last_name,
                    },
                    draft.number,
                )
            return  # the same child twice: once is enough
    draft.children.append(child)
