"""The import file's format: its columns, the header names accepted for them, the messages
of a cell that is missing or wrong, and the size limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy

MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 20_000
MAX_AGE_SECONDS = 3600
INVITATION_BATCH = 100


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
