"""Reading the families' import file (foyer.csv_files does the reading): its columns, and
the lines that cannot be split right reported as line errors."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy

from foyer import csv_files

from .columns import COLUMN_GROUPS, COLUMNS, HEADER_ALIASES, MAX_BYTES, MAX_LINES
from .results import LineError

SPEC = csv_files.CsvSpec(
    keys=frozenset(column.key for column in COLUMNS),
    required=tuple(column.key for column in COLUMNS if column.required),
    no_rows_message=gettext_lazy(
        "Le fichier ne contient aucune ligne de dossier après la ligne des en-têtes."
    ),
    aliases=HEADER_ALIASES,
    groups=COLUMN_GROUPS,
    max_bytes=MAX_BYTES,
    max_lines=MAX_LINES,
)


@dataclass
class ParsedFile:
    encoding: str
    delimiter: str
    headers: dict[str, str]  # key → "header (letter)"
    rows: list[tuple[int, dict[str, str]]]
    ignored_columns: list[str]
    errors: list[LineError]


def check_upload_size(size: int) -> None:
    csv_files.check_upload_size(size, MAX_BYTES)


def read_family_csv(data: bytes) -> ParsedFile:
    parsed = csv_files.read_csv(data, SPEC)
    return ParsedFile(
        parsed.encoding,
        parsed.delimiter,
        parsed.headers,
        parsed.rows,
        parsed.ignored_columns,
        [LineError(line, "—", message) for line, message in parsed.errors],
    )
