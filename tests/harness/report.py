"""Add up the stress counts: ``python -m tests.harness.report DIR``.

Reads the ``harness-*.jsonl`` lines the tests wrote into DIR (``$STRESS_REPORT_DIR``: fuzzing,
the hostile corpus, the auth matrix, load, faults, kill -9 rounds), prints a table per suite
(requests sent, errors, expected refusals, writes acknowledged vs found, lost, doubled, kills
survived, fuzz cases, failures) and one JSON line ``{"event": "harness-summary", ...}``, and
writes the same object to ``DIR/harness-summary.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# errors: unexpected answers; refused: the refusals a fault is meant to get (a full disk's 507).
COUNTS = (
    "requests",
    "errors",
    "refused",
    "acked",
    "found",
    "lost",
    "doubled",
    "kills",
    "cases",
    "failures",
)


def summarise(folder: Path) -> dict:
    """Totals per suite, and overall, over every line in ``folder``."""
    suites: dict[str, dict[str, int]] = {}
    for path in sorted(folder.glob("harness-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            suite = suites.setdefault(row["suite"], {"tests": 0, **dict.fromkeys(COUNTS, 0)})
            suite["tests"] += 1
            for name in COUNTS:
                value = row.get(name, row.get("failed", 0) if name == "failures" else 0)
                suite[name] += int(value or 0)
    totals = {name: sum(s[name] for s in suites.values()) for name in ("tests", *COUNTS)}
    return {"event": "harness-summary", "suites": suites, **totals}


def table(summary: dict) -> str:
    """The summary as a fixed-width table, a row per suite and a total."""
    head = ("suite", "tests", *COUNTS)
    rows = [(name, *(str(s[c]) for c in head[1:])) for name, s in sorted(summary["suites"].items())]
    rows.append(("total", *(str(summary[c]) for c in head[1:])))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), *(line(r) for r in rows[:-1]), line(rows[-1])])


def main(argv: list[str]) -> int:
    """Print the table and the JSON line; exit 1 when nothing was recorded or anything failed,
    was lost or was doubled."""
    folder = Path(argv[1]) if len(argv) > 1 else Path(".")
    summary = summarise(folder)
    print(table(summary))
    print(json.dumps(summary, sort_keys=True))
    (folder / "harness-summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    bad = summary["failures"] or summary["lost"] or summary["doubled"]
    return 0 if summary["suites"] and not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
