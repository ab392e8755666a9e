"""French plurals: gettext applies the French rule (0 and 1 take the singular) only to
messages found in a catalogue, so every plural message must be in locale/fr."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.utils import translation
from django.utils.translation import ngettext

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES" / "django.po"
PLURAL = re.compile(r'^msgid "((?:[^"\\]|\\.)*)"\nmsgid_plural', re.MULTILINE)


def _plural_msgids(po: Path) -> set[str]:
    return set(PLURAL.findall(po.read_text(encoding="utf-8")))


def test_zero_and_one_take_the_singular():
    with translation.override("fr"):
        words = [
            ngettext("%(n)d réservation annulée", "%(n)d réservations annulées", n) % {"n": n}
            for n in (0, 1, 2)
        ]
    assert words == ["0 réservation annulée", "1 réservation annulée", "2 réservations annulées"]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_every_plural_message_is_in_the_french_catalogue(tmp_path, settings, monkeypatch):
    # given the messages extracted from the code as it is now, into a scratch catalogue (the
    # sources are linked from a scratch folder so that makemessages leaves locale/ alone)
    sources = tmp_path / "src"
    sources.mkdir()
    for entry in Path(settings.BASE_DIR).iterdir():
        if entry.name not in {"locale", "tests", "bench", ".venv", ".data", ".git", "staticfiles"}:
            (sources / entry.name).symlink_to(entry)
    settings.LOCALE_PATHS = [tmp_path / "out"]
    monkeypatch.chdir(sources)
    call_command(
        "makemessages",
        locale=["fr"],
        no_location=True,
        symlinks=True,
        verbosity=0,
        ignore_patterns=["node_modules"],
    )
    # then none is missing from the committed catalogue (run `make messages`)
    missing = _plural_msgids(tmp_path / "out" / "fr" / "LC_MESSAGES" / "django.po") - _plural_msgids(
        CATALOGUE
    )
    assert missing == set()


def test_the_first_of_the_month_reads_1er():
    template = Template(
        '{{ first|date_fr:"l j F Y" }} · {{ second|date_fr:"j F" }} · {{ first|date_fr:"d/m/Y" }}'
    )
    with translation.override("fr"):
        text = template.render(Context({"first": dt.date(2027, 2, 1), "second": dt.date(2027, 2, 2)}))
    assert text == "lundi 1er février 2027 · 2 février · 01/02/2027"
