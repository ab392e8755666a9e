"""Reading an uploaded CSV file (families, invoices): its size, its encoding (UTF-8 with or
without BOM, UTF-16, Windows-1252) and separator (``;``, ``,``, tab, Excel's ``sep=`` hint), its
header matched to known columns, and its lines as cells keyed by column, numbered as a
spreadsheet numbers them."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .errors import FoyerError


@dataclass(frozen=True)
class CsvSpec:
    keys: frozenset[str]  # every column the file may have
    required: tuple[str, ...]
    no_rows_message: object  # French, lazy
    aliases: dict[str, str] = field(default_factory=dict)  # other header names → key
    groups: tuple[tuple[str, ...], ...] = ()  # columns present all together or not at all
    max_bytes: int = 5 * 1024 * 1024
    max_lines: int = 20_000


@dataclass
class CsvFile:
    encoding: str
    delimiter: str
    headers: dict[str, str]  # key → "header (letter)"
    rows: list[tuple[int, dict[str, str]]]
    ignored_columns: list[str]
    errors: list[tuple[int, str]]  # (line, message) of lines that cannot be split right


def _size_label(size: int) -> str:
    megabytes = f"{size / (1024 * 1024):.1f}".replace(".", ",").removesuffix(",0")
    return _("%(size)s Mo") % {"size": megabytes}


def _file_error(message: str) -> FoyerError:
    return FoyerError("import_file", message, extra={"fields": {"fichier": [message]}})


def check_upload_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise _file_error(
            _(
                "Le fichier fait %(size)s : la limite est de %(limit)s. Découpez-le en plusieurs fichiers "
                "(par exemple par ordre alphabétique des familles) et importez-les l'un après l'autre."
            )
            % {"size": _size_label(size), "limit": _size_label(max_bytes)}
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


def normalize_header(header: str, aliases: dict[str, str]) -> str:
    """ "N° de Dossier " → "n_de_dossier", then its alias if it has one."""
    text = unicodedata.normalize("NFKD", header.strip().lower())
    text = "".join(char for char in text if not unicodedata.combining(char))
    key = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return aliases.get(key, key)


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_csv(data: bytes, spec: CsvSpec) -> CsvFile:
    """Decode and split the file; refuse a file that cannot be read as a whole (size, encoding,
    columns). Problems of one line are reported with that line, later."""
    check_upload_size(len(data), spec.max_bytes)
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
        key = normalize_header(raw, spec.aliases)
        if not key:
            continue
        if key not in spec.keys:
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
    missing = [key for key in spec.required if key not in columns]
    for group in spec.groups:
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
    errors: list[tuple[int, str]] = []
    width = len(header)
    try:
        for cells in reader:
            line += 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= spec.max_lines:
                raise _file_error(
                    _(
                        "Le fichier compte plus de %(limit)s lignes : découpez-le en plusieurs fichiers et "
                        "importez-les l'un après l'autre."
                    )
                    % {"limit": f"{spec.max_lines:,}".replace(",", "\u202f")}
                )
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                errors.append(
                    (
                        line,
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
        raise _file_error(str(spec.no_rows_message))
    return CsvFile(encoding, delimiter, headers, rows, ignored, errors)
