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

The modules, in the order of the flow: columns (the format) → reading (bytes → lines) →
dossiers (lines → dossiers) → planning (dossiers → what would happen: the preview) → storage
(the file kept between preview and import) → writing (the import) → invitations (activation
links for many dossiers). What the console uses is re-exported here.
"""

from .columns import COLUMNS, MAX_AGE_SECONDS, MAX_BYTES, MAX_LINES, template_header
from .invitations import BulkInvitationRequest, request_family_invitations, send_family_invitations_now
from .planning import preview_family_import
from .reading import check_upload_size, read_family_csv
from .results import Action, DossierPlan, ImportPreview, ImportRefused, ImportResult, LineError
from .storage import (
    StoredImport,
    confirm_family_import,
    get_family_import,
    list_never_invited,
    store_family_import,
)
from .writing import import_family_dossiers

__all__ = [
    "COLUMNS",
    "MAX_AGE_SECONDS",
    "MAX_BYTES",
    "MAX_LINES",
    "Action",
    "BulkInvitationRequest",
    "DossierPlan",
    "ImportPreview",
    "ImportRefused",
    "ImportResult",
    "LineError",
    "StoredImport",
    "check_upload_size",
    "confirm_family_import",
    "get_family_import",
    "import_family_dossiers",
    "list_never_invited",
    "preview_family_import",
    "read_family_csv",
    "request_family_invitations",
    "send_family_invitations_now",
    "store_family_import",
    "template_header",
]
