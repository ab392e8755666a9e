"""Family dossiers imported from a commune's previous software (a CSV file), and activation
links sent to many dossiers at once.

The file (documented on the import page; model in static/console/modele-import-familles.csv):

* a header row, then one line per child: a family with three children has three lines with the
  same dossier number (a family without children has one line with empty child cells);
* the family and guardian cells may be repeated on every line of a dossier or left empty after
  its first line; two different values for the same dossier are an error;
* separator ";" (what French spreadsheets write) or ","; UTF-8 (with or without BOM), UTF-16
  with BOM or Windows-1252; dates jj/mm/aaaa; at most MAX_BYTES and MAX_LINES lines.

Flow: the agent uploads the file (kept MAX_AGE_SECONDS in the cache, keyed by the commune's
schema and a random token, for that agent only) → a preview says per line what is wrong and per
dossier what will happen (create / update / unchanged) → the import re-reads the kept file,
validates it again against the database and writes everything in one transaction, or nothing.

Idempotent by dossier number: a dossier already in the commune is updated (family name and
address, guardians matched by e-mail, children matched by first name and birth date); nothing
the file does not mention is deleted, and empty cells keep what is known. A dossier the family
already holds (activated, a guardian with an account, or shared with another commune) is left
as the family keeps it: the preview lists the differences, the import does not apply them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import secrets
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import audit
from foyer.errors import FoyerError, NotFound
from tenants.tasks import enqueue_on_commit

from .models import Account, Child, Family, Guardian, Invitation, Membership, normalize_email
from .services import (
    MAX_GUARDIANS,
    POSTCODE_RE,
    child_birth_date_problem,
    clean_phone,
    ensure_open_to_families,
    send_family_invitation,
)

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 20_000
MAX_AGE_SECONDS = 3600
INVITATION_BATCH = 100


# --- The format -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    required: bool
    example: str
    max_length: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column("numero_dossier", gettext_lazy("Numéro de dossier, gardé tel quel"), True, "F00042", 30),
    Column("nom_famille", gettext_lazy("Nom de la famille"), True, "Martin", 150),
    Column("adresse", gettext_lazy("Adresse (numéro et rue)"), False, "3 rue des Écoles", 255),
    Column("code_postal", gettext_lazy("Code postal, 5 chiffres"), False, "38000", 10),
    Column("ville", gettext_lazy("Ville"), False, "JolieVille", 120),
    Column("resp1_prenom", gettext_lazy("Prénom du responsable 1"), True, "Camille", 100),
    Column("resp1_nom", gettext_lazy("Nom du responsable 1"), True, "Martin", 100),
    Column("resp1_email", gettext_lazy("E-mail du responsable 1 (le lien d'activation y part)"), True,
           "camille.martin@example.fr", 254),
    Column("resp1_telephone", gettext_lazy("Téléphone du responsable 1"), False, "06 01 02 03 04", 30),
    Column("resp2_prenom", gettext_lazy("Prénom du responsable 2 (facultatif)"), False, "Dominique", 100),
    Column("resp2_nom", gettext_lazy("Nom du responsable 2"), False, "Martin", 100),
    Column("resp2_email", gettext_lazy("E-mail du responsable 2"), False, "dominique.martin@example.fr", 254),
    Column("resp2_telephone", gettext_lazy("Téléphone du responsable 2"), False, "", 30),
    Column("enfant_prenom", gettext_lazy("Prénom de l'enfant (une ligne par enfant)"), False, "Léa", 100),
    Column("enfant_nom", gettext_lazy("Nom de l'enfant"), False, "Martin", 100),
    Column("enfant_date_naissance", gettext_lazy("Date de naissance de l'enfant, jj/mm/aaaa"), False,
           "14/05/2017"),
)  # fmt: skip
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
# Columns that only make sense together: present in the header all or none.
COLUMN_GROUPS = (
    ("resp2_prenom", "resp2_nom", "resp2_email"),
    ("enfant_prenom", "enfant_nom", "enfant_date_naissance"),
)
HEADER_ALIASES = {
    "n_dossier": "numero_dossier",
    "no_dossier": "numero_dossier",
    "num_dossier": "numero_dossier",
    "dossier": "numero_dossier",
    "famille": "nom_famille",
    "cp": "code_postal",
    "commune": "ville",
    **{f"resp{n}_{alias}": f"resp{n}_email" for n in (1, 2) for alias in ("e_mail", "mail", "courriel")},
    **{f"resp{n}_tel": f"resp{n}_telephone" for n in (1, 2)},
    "enfant_date_de_naissance": "enfant_date_naissance",
    "enfant_naissance": "enfant_date_naissance",
}
FAMILY_KEYS = ("nom_famille", "adresse", "code_postal", "ville")
FAMILY_FIELDS = {"nom_famille": "name", "adresse": "address_line", "code_postal": "postcode", "ville": "city"}
GUARDIAN_FIELDS = ("prenom", "nom", "email", "telephone")
DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


# Messages used in loops are translated only when they are shown (a 10,000-line file would
# otherwise translate each of them tens of thousands of times).
REQUIRED_MESSAGES = (
    ("nom_famille", gettext_lazy("Le nom de la famille est obligatoire.")),
    ("resp1_prenom", gettext_lazy("Le prénom du responsable 1 est obligatoire.")),
    ("resp1_nom", gettext_lazy("Le nom du responsable 1 est obligatoire.")),
    (
        "resp1_email",
        gettext_lazy("L'e-mail du responsable 1 est obligatoire : le lien d'activation y sera envoyé."),
    ),
)
SECOND_GUARDIAN_MESSAGES = (
    ("resp2_prenom", gettext_lazy("Le prénom du responsable 2 est obligatoire quand il est indiqué.")),
    ("resp2_nom", gettext_lazy("Le nom du responsable 2 est obligatoire quand il est indiqué.")),
    ("resp2_email", gettext_lazy("L'e-mail du responsable 2 est obligatoire quand il est indiqué.")),
)
CHILD_MESSAGES = (
    ("enfant_prenom", gettext_lazy("Le prénom de l'enfant est obligatoire.")),
    ("enfant_nom", gettext_lazy("Le nom de l'enfant est obligatoire.")),
    ("enfant_date_naissance", gettext_lazy("La date de naissance de l'enfant est obligatoire (jj/mm/aaaa).")),
)
FAMILY_LABELS = {
    "nom_famille": gettext_lazy("Nom de la famille"),
    "adresse": gettext_lazy("Adresse"),
    "code_postal": gettext_lazy("Code postal"),
    "ville": gettext_lazy("Ville"),
}
GUARDIAN_LABELS = (
    ("first_name", gettext_lazy("prénom")),
    ("last_name", gettext_lazy("nom")),
    ("phone", gettext_lazy("téléphone")),
)


def template_header() -> str:
    return ";".join(column.key for column in COLUMNS)


# --- Results shown to the agent ---------------------------------------------------------------


class Action(models.TextChoices):
    CREATE = "create", gettext_lazy("Création")
    UPDATE = "update", gettext_lazy("Mise à jour")
    UNCHANGED = "unchanged", gettext_lazy("Inchangé")
    KEPT = "kept", gettext_lazy("Tenu par la famille : non modifié")
    INVALID = "invalid", gettext_lazy("En erreur : non importé")


@dataclass(frozen=True)
class LineError:
    line: int
    column: str  # the header as written in the file, with its letter: "resp1_email (H)"
    message: str
    dossier: str = ""


@dataclass
class GuardianDraft:
    first_name: str
    last_name: str
    email: str
    phone: str
    line: int
    column: str  # where its e-mail is, for error messages


@dataclass
class ChildDraft:
    first_name: str
    last_name: str
    birth_date: dt.date
    line: int


@dataclass
class DossierDraft:
    number: str
    first_line: int
    lines: list[int] = field(default_factory=list)
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # key → (value, line)
    children: list[ChildDraft] = field(default_factory=list)
    guardians: list[GuardianDraft] = field(default_factory=list)

    def value(self, key: str) -> str:
        return self.values.get(key, ("", 0))[0]

    def line_of(self, key: str) -> int:
        return self.values.get(key, ("", self.first_line))[1]


@dataclass
class DossierPlan:
    number: str
    family_name: str
    lines: list[int]
    action: str
    changes: list[str] = field(default_factory=list)
    membership_id: int | None = None
    draft: DossierDraft | None = None
    # What an update writes (filled for Action.UPDATE only).
    family: Family | None = None
    family_values: dict[str, str] = field(default_factory=dict)
    guardian_updates: list[Guardian] = field(default_factory=list)
    new_guardians: list[GuardianDraft] = field(default_factory=list)
    child_updates: list[Child] = field(default_factory=list)
    new_children: list[ChildDraft] = field(default_factory=list)

    @property
    def action_label(self) -> str:
        return Action(self.action).label

    @property
    def first_line(self) -> int:
        return self.lines[0] if self.lines else 0


@dataclass
class ImportPreview:
    encoding: str
    delimiter: str
    line_count: int
    ignored_columns: list[str]
    errors: list[LineError]
    plans: list[DossierPlan]

    def count(self, action: str) -> int:
        return sum(1 for plan in self.plans if plan.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in Action.values}

    @property
    def error_lines(self) -> int:
        return len({error.line for error in self.errors})

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    @property
    def writes(self) -> int:
        return self.count(Action.CREATE) + self.count(Action.UPDATE)

    def by_action(self, action: str) -> list[DossierPlan]:
        return [plan for plan in self.plans if plan.action == action]


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    kept: int
    skipped: int
    membership_ids: list[int]


class ImportRefused(FoyerError):
    """Nothing was imported; ``preview`` says why, line by line."""

    def __init__(self, message: str, preview: ImportPreview):
        super().__init__("import_refused", message, status=400, extra={"errors": len(preview.errors)})
        self.preview = preview


# --- Reading the file -------------------------------------------------------------------------


@dataclass
class ParsedFile:
    encoding: str
    delimiter: str
    headers: dict[str, str]  # key → "header (letter)"
    rows: list[tuple[int, dict[str, str]]]
    ignored_columns: list[str]
    errors: list[LineError]


def _size_label(size: int) -> str:
    megabytes = f"{size / (1024 * 1024):.1f}".replace(".", ",").removesuffix(",0")
    return _("%(size)s Mo") % {"size": megabytes}


def _file_error(message: str) -> FoyerError:
    return FoyerError("import_file", message, extra={"fields": {"fichier": [message]}})


def check_upload_size(size: int) -> None:
    if size > MAX_BYTES:
        raise _file_error(
            _(
                "Le fichier fait %(size)s : la limite est de %(limit)s. Découpez-le en plusieurs fichiers "
                "(par exemple par ordre alphabétique des familles) et importez-les l'un après l'autre."
            )
            % {"size": _size_label(size), "limit": _size_label(MAX_BYTES)}
        )


def _decode(data: bytes) -> tuple[str, str]:
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8"), "UTF-8 (BOM)"
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16"), "UTF-16"
    except UnicodeDecodeError:
        raise _file_error(
            _("Le fichier annonce un encodage qu'il ne respecte pas : enregistrez-le à nouveau en CSV UTF-8.")
        ) from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        raise _file_error(
            _(
                "L'encodage du fichier n'est pas reconnu (UTF-8 ou Windows-1252 attendu) : "
                "dans le tableur, enregistrez-le au format « CSV UTF-8 »."
            )
        ) from None


def _normalize_header(header: str) -> str:
    text = unicodedata.normalize("NFKD", header.strip().lower())
    text = "".join(char for char in text if not unicodedata.combining(char))
    key = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return HEADER_ALIASES.get(key, key)


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_family_csv(data: bytes) -> ParsedFile:
    """Decode and split the file; refuse a file that cannot be read as a whole (size, encoding,
    columns). Problems of one line are reported with that line, later."""
    check_upload_size(len(data))
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _file_error(
            _(
                "Ce fichier est un classeur (Excel ou LibreOffice), pas un CSV : dans le tableur, choisissez "
                "« Enregistrer sous », puis le format CSV (séparateur point-virgule)."
            )
        )
    text, encoding = _decode(data)
    if "\x00" in text:
        raise _file_error(_("Ce fichier n'est pas un fichier texte CSV."))
    if not text.strip():
        raise _file_error(_("Le fichier est vide."))
    text = text.lstrip("\r\n")
    first_line = text.split("\n", 1)[0].strip()
    if re.fullmatch(r"sep=[;,\t]", first_line):  # Excel's hint, hidden when it opens the file
        delimiter = first_line[-1]
        text = text.split("\n", 1)[1] if "\n" in text else ""
    else:
        delimiter = ";" if first_line.count(";") >= max(first_line.count(","), 1) else ","
        if delimiter == "," and not first_line.count(",") and first_line.count("\t"):
            delimiter = "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1  # as a spreadsheet numbers the rows: the headers are row 1
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
            line += 1
    except StopIteration:
        raise _file_error(_("Le fichier est vide.")) from None
    except csv.Error as exc:
        raise _file_error(
            _("La première ligne du fichier n'est pas lisible (%(error)s).") % {"error": exc}
        ) from None

    columns: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for index, raw in enumerate(header):
        key = _normalize_header(raw)
        if not key:
            continue
        if key not in COLUMN_BY_KEY:
            ignored.append(raw.strip())
            continue
        if key in columns:
            raise _file_error(
                _(
                    "La colonne « %(column)s » figure deux fois dans la première ligne (colonnes %(a)s et %(b)s)."
                )
                % {"column": raw.strip(), "a": _letter(columns[key]), "b": _letter(index)}
            )
        columns[key] = index
        headers[key] = f"{raw.strip()} ({_letter(index)})"
    missing = [column.key for column in COLUMNS if column.required and column.key not in columns]
    for group in COLUMN_GROUPS:
        present = [key for key in group if key in columns]
        if present and len(present) < len(group):
            missing += [key for key in group if key not in columns]
    if missing:
        raise _file_error(
            _(
                "Colonnes absentes de la première ligne : %(columns)s. La première ligne doit reprendre les "
                "en-têtes du modèle (séparateur « ; » ou « , »)."
            )
            % {"columns": ", ".join(missing)}
        )

    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[LineError] = []
    width = len(header)
    try:
        for cells in reader:
            line += 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_LINES:
                raise _file_error(
                    _(
                        "Le fichier compte plus de %(limit)s lignes : découpez-le en plusieurs fichiers et "
                        "importez-les l'un après l'autre."
                    )
                    % {"limit": f"{MAX_LINES:,}".replace(",", "\u202f")}
                )
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                errors.append(
                    LineError(
                        line,
                        "—",
                        _(
                            "La ligne compte %(cells)s cellules pour %(columns)s colonnes : une valeur contient "
                            "sans doute le séparateur « %(sep)s » sans guillemets."
                        )
                        % {"cells": len(cells), "columns": width, "sep": delimiter},
                    )
                )
            rows.append(
                (
                    line,
                    {
                        key: (cells[index].strip() if index < len(cells) else "")
                        for key, index in columns.items()
                    },
                )
            )
    except csv.Error as exc:
        raise _file_error(
            _("La ligne %(line)s n'est pas lisible (%(error)s).") % {"line": line, "error": exc}
        ) from None
    if not rows:
        raise _file_error(_("Le fichier ne contient aucune ligne de dossier après la ligne des en-têtes."))
    return ParsedFile(encoding, delimiter, headers, rows, ignored, errors)


# --- Lines → dossiers -------------------------------------------------------------------------


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


def _build_dossiers(parsed: ParsedFile) -> tuple[dict[str, DossierDraft], list[LineError]]:
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


# --- Dossiers → what the import would do ------------------------------------------------------


def _describe(value: str) -> str:
    return f"« {value} »" if value else _("(vide)")


def _one_of(values: Iterable, sql_type: str) -> RawSQL:
    """For ``field__in=``: thousands of values sent as one array parameter (an IN list of
    thousands of placeholders costs more to build and parse than the query itself)."""
    return RawSQL(f"SELECT unnest(%s::{sql_type}[])", [list(values)])  # sql_type: a literal above


def _plan(*, commune, parsed: ParsedFile) -> ImportPreview:
    drafts, errors = _build_dossiers(parsed)
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
    return _plan(commune=commune, parsed=read_family_csv(data))


# --- The import -------------------------------------------------------------------------------


def import_family_dossiers(*, commune, actor: Account, data: bytes, valid_only: bool = False) -> ImportResult:
    """Import the file in one transaction. With an error anywhere nothing is written, unless
    ``valid_only``: then the dossiers without errors are imported and the others left out."""
    parsed = read_family_csv(data)
    try:
        with transaction.atomic(durable=True):
            # The same lock as the dossier numbering: one import (or new dossier) at a time per
            # commune, so the validation below still holds when the rows are written.
            type(commune).objects.select_for_update().filter(pk=commune.pk).first()
            preview = _plan(commune=commune, parsed=parsed)
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
            audit.family_import(preview=preview, created=created)
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


# --- The uploaded file between the preview and the import --------------------------------------


@dataclass(frozen=True)
class StoredImport:
    token: str
    file_name: str
    data: bytes | None
    result: ImportResult | None
    uploaded_at: dt.datetime


def _key(commune, token: str) -> str:
    # The cache also prefixes every key with the current schema (django_tenants.cache.make_key).
    return f"family-import:{commune.schema_name}:{token}"


def store_family_import(*, commune, actor: Account, upload) -> str:
    """Keep an uploaded file for its preview and import (MAX_AGE_SECONDS, this agent only) once
    it reads as a whole; a file that does not is refused here, and nothing is kept."""
    check_upload_size(upload.size)
    data = upload.read(MAX_BYTES + 1)
    read_family_csv(data)
    token = secrets.token_urlsafe(24)
    cache.set(
        _key(commune, token),
        {
            "commune_id": commune.pk,
            "actor_id": actor.pk,
            "file_name": (getattr(upload, "name", "") or "")[:200],
            "data": zlib.compress(data),
            "result": None,
            "uploaded_at": timezone.now(),
        },
        MAX_AGE_SECONDS,
    )
    return token


def get_family_import(*, commune, actor: Account, token: str) -> StoredImport:
    """The file this agent uploaded in this commune; the same 404 for unknown, expired, another
    commune's and another agent's."""
    stored = cache.get(_key(commune, token)) if token else None
    if not stored or stored["commune_id"] != commune.pk or stored["actor_id"] != actor.pk:
        raise NotFound(
            _(
                "Cet import n'existe pas ou a expiré (un fichier déposé est gardé une heure) : "
                "déposez à nouveau le fichier."
            )
        )
    return StoredImport(
        token=token,
        file_name=stored["file_name"],
        data=zlib.decompress(stored["data"]) if stored["data"] else None,
        result=ImportResult(**stored["result"]) if stored["result"] else None,
        uploaded_at=stored["uploaded_at"],
    )


def confirm_family_import(*, commune, actor: Account, token: str, valid_only: bool) -> ImportResult:
    """Import the kept file (validated again now). Once imported, only the result is kept."""
    stored = get_family_import(commune=commune, actor=actor, token=token)
    if stored.result is not None:
        return stored.result
    result = import_family_dossiers(commune=commune, actor=actor, data=stored.data, valid_only=valid_only)
    cache.set(
        _key(commune, token),
        {
            "commune_id": commune.pk,
            "actor_id": actor.pk,
            "file_name": stored.file_name,
            "data": None,
            "result": asdict(result),
            "uploaded_at": stored.uploaded_at,
        },
        MAX_AGE_SECONDS,
    )
    return result


def list_never_invited(*, commune, membership_ids: Iterable[int]) -> list[int]:
    """Of these dossiers, the ones of the commune not activated and never sent a link."""
    return list(
        Membership.objects.filter(
            commune=commune, pk__in=list(membership_ids), status=Membership.Status.INVITED
        )
        .filter(~Exists(Invitation.objects.filter(membership=OuterRef("pk"), kind=Invitation.Kind.FAMILY)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- Activation links for many dossiers --------------------------------------------------------


@dataclass(frozen=True)
class BulkInvitationRequest:
    queued: int
    already_active: int


def request_family_invitations(
    *, commune, actor: Account, membership_ids: Iterable[int]
) -> BulkInvitationRequest:
    """Send (or send again) the activation link of each of these dossiers of the commune that
    is not activated yet. Tasks after commit, INVITATION_BATCH dossiers each; every link goes
    through send_family_invitation, so each dossier's delivery is tracked as for one."""
    ensure_open_to_families(commune)
    rows = list(
        Membership.objects.filter(commune=commune, pk__in=list(membership_ids)).values_list("pk", "status")
    )
    pending = sorted(pk for pk, status in rows if status == Membership.Status.INVITED)
    if not rows:
        raise FoyerError("nothing_selected", _("Cochez au moins un dossier de la liste."))
    audit.activation_links_requested(
        commune=commune, membership_ids=pending, already_active=len(rows) - len(pending)
    )
    from .tasks import send_family_invitations

    for start in range(0, len(pending), INVITATION_BATCH):
        enqueue_on_commit(
            send_family_invitations,
            schema_name=commune.schema_name,
            membership_ids=pending[start : start + INVITATION_BATCH],
            actor_id=actor.pk,
        )
    return BulkInvitationRequest(queued=len(pending), already_active=len(rows) - len(pending))


def send_family_invitations_now(*, commune, membership_ids: list[int], actor_id: int | None) -> int:
    """The task's work: one send_family_invitation (its own transaction, its e-mail after its
    commit) per dossier still waiting for activation. Returns how many were sent."""
    actor = Account.objects.filter(pk=actor_id).first() if actor_id else None
    sent = 0
    for membership in Membership.objects.filter(
        commune=commune, pk__in=membership_ids, status=Membership.Status.INVITED
    ).order_by("pk"):
        try:
            send_family_invitation(membership=membership, actor=actor)
        except FoyerError:
            continue  # activated in the meantime
        sent += 1
    return sent
