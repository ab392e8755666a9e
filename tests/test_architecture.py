"""The layers of .importlinter (README, "Where code goes") hold, and a backwards import breaks
them: the contract is checked on the tree, then on copies of it with one import added."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "platform",
    "tenants",
    "audit",
    "shared_identity",
    "reservations",
    "billing",
    "demandes",
    "actualites",
    "family",
    "portal",
    "console",
    "operators",
)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "platform")},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The project's Python packages and its contract, copied (code only)."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=lambda folder, names: [
                name for name in names if not name.endswith(".py") and not (Path(folder) / name).is_dir()
            ],
        )
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_tree_keeps_the_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "code", "broken"),
    [
        # the identity reaching up to a commune app, even inside a function
        (
            "shared_identity/backwards.py",
            "def total():\n    from billing.models import Invoice\n\n    return Invoice.objects.count()\n",
            "shared_identity is not allowed to import billing",
        ),
        # two commune apps, other than through billing's named interface to reservations
        (
            "billing/backwards.py",
            "from reservations.models import Booking\n",
            "billing is not allowed to import",
        ),
        (
            "reservations/backwards.py",
            "from billing.models import Invoice\n",
            "reservations is not allowed to import",
        ),
        # a commune app reaching the family layer, the family layer an interface
        (
            "demandes/backwards.py",
            "from family.router import get_family_scope\n",
            "demandes is not allowed to import",
        ),
        (
            "family/backwards.py",
            "from portal.forms import LoginForm\n",
            "family is not allowed to import portal",
        ),
        # two interfaces
        (
            "console/backwards.py",
            "from operators.access import operator_required\n",
            "console is not allowed to import",
        ),
        # the platform's own modules know no app
        (
            "platform/foyer/backwards_formatting.py",
            "from tenants.models import Commune\n",
            "foyer.backwards_formatting is not allowed to import tenants",
        ),
    ],
)
def test_a_backwards_import_breaks_the_build(tree_copy: Path, module: str, code: str, broken: str):
    # given one import that goes the wrong way
    (tree_copy / module).write_text(code)
    if module.startswith("platform/"):
        # a new platform module belongs to the bottom layer: the contract names it there
        contract = tree_copy / ".importlinter"
        text = contract.read_text()
        bottom = next(line for line in text.splitlines() if line.strip().startswith("foyer.settings"))
        contract.write_text(text.replace(bottom, bottom + " : foyer.backwards_formatting", 1))
    # when the contract is checked
    result = lint_imports(tree_copy)
    # then it fails and says where
    assert result.returncode != 0, result.stdout
    assert "Contracts: 0 kept, 1 broken." in result.stdout
    assert broken in result.stdout


def test_billing_may_use_reservations_through_its_named_interface(tree_copy: Path):
    (tree_copy / "billing" / "through_interface.py").write_text(
        "from reservations.for_billing import Booking\n"
    )
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_email_leaves_through_the_notifications_module():
    senders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                if any(name.startswith("django.core.mail") for name in names):
                    senders.append(str(path.relative_to(ROOT)))
    assert senders == ["shared_identity/notifications.py"]
