"""`make messages` helper: give the regenerated French catalogue Foyer's header."""

import re
import sys
from pathlib import Path

HEADER = """# Foyer's French catalogue. The code is written in French already: every msgstr repeats
# its msgid. It exists for the French plural rule (0 and 1 take the singular), which gettext
# only applies to messages in a catalogue. Regenerate with `make messages`.
msgid ""
msgstr ""
"Project-Id-Version: Foyer\\n"
"Language: fr\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"
"""

po = Path(sys.argv[1])
text = po.read_text(encoding="utf-8")
body = text[re.search(r'^"Plural-Forms:.*\n', text, re.MULTILINE).end() :]
po.write_text(HEADER + body, encoding="utf-8")
