#!/usr/bin/env python
"""Django's command-line utility for Foyer."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # `platform/` holds the project package `foyer`; it is a plain folder, not a
    # package, so the stdlib `platform` module stays intact.
    sys.path.insert(0, str(ROOT / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "foyer.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
