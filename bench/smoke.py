"""Every benchmark at tiny sizes, for correctness only (no figure is read): a migration or a
change that breaks a benchmark fails here, in CI, instead of on the day someone measures.

    .venv/bin/python bench/smoke.py        (make bench-smoke)

Each script runs in its own database, as it always does, and must end with its own check
passing (exit status 0)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TINY = {
    "provisioning.py": ["--runs", "1", "--communes", "3"],
    "booking_burst.py": ["--clients", "4", "--capacity", "3", "--workers", "1", "--threads", "4"],
    "week_view.py": ["--communes", "1,2", "--repetitions", "2", "--warmups", "1"],
    "invoice_list.py": ["--communes", "1,2", "--repetitions", "2", "--warmups", "1"],
    "operator_list.py": ["--communes", "2,3", "--families", "2", "--repetitions", "2", "--warmups", "1"],
    "invoicing.py": ["--families", "20", "--bookings", "3", "--sample", "3"],
    "family_import.py": ["--dossiers", "20"],
    "family_load.py": ["--users", "3", "--duration", "3", "--workers", "1", "--threads", "4"],
    "platform_scale.py": ["--sizes", "8,12", "--samples", "2", "--batch", "3"],
}


def main() -> int:
    missing = sorted(
        path.name
        for path in HERE.glob("*.py")
        if path.name not in TINY and path.name not in {"smoke.py", "benchdb.py"}
    )
    if missing:
        print(f"no smoke size for: {', '.join(missing)} (add it to TINY)")
        return 1
    failed = []
    for script, args in TINY.items():
        start = time.perf_counter()
        run = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        print(f"{'ok  ' if run.returncode == 0 else 'FAIL'} {script:20s} {seconds:6.1f} s")
        if run.returncode != 0:
            failed.append(script)
            print("\n".join((run.stdout + run.stderr).splitlines()[-25:]))
    print(f"{len(TINY) - len(failed)} of {len(TINY)} benchmarks run and pass their checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
