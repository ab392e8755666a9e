"""What the import tells the agent: per line what is wrong, per dossier what will happen
(create, update, unchanged, kept by the family), and the outcome of an import."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext_lazy

from foyer.errors import FoyerError
from shared_identity.models import Child, Family, Guardian


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
