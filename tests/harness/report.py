"""Add up the harness's counts: ``python -m tests.harness.report DIR``.

Reads the ``harness-*.jsonl`` lines the tests wrote into DIR (``$STRESS_REPORT_DIR``), prints one
JSON line ``{"event": "harness-summary", ...}`` with cases tried and failures per suite, and
writes the same object to ``DIR/harness-summary.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarise(folder: Path) -> dict:
    """Totals per suite over every line in ``folder``."""
    suites: dict[str, dict[str, int]] = {}
    for path in sorted(folder.glob("harness-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            suite = suites.setdefault(row["suite"], {"tests": 0, "cases": 0, "failures": 0})
            suite["tests"] += 1
            suite["cases"] += int(row.get("cases", 0))
            suite["failures"] += int(row.get("failures", row.get("failed", 0)))
    return {
        "event": "harness-summary",
        "suites": suites,
        "cases": sum(s["cases"] for s in suites.values()),
        "failures": sum(s["failures"] for s in suites.values()),
    }


def main(argv: list[str]) -> int:
    """Print and write the summary; exit 1 when nothing was recorded."""
    folder = Path(argv[1]) if len(argv) > 1 else Path(".")
    summary = summarise(folder)
    print(json.dumps(summary, sort_keys=True))
    (folder / "harness-summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return 0 if summary["suites"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
