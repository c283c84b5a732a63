"""The stress table adds up what the tests recorded, and fails the run on any failure or loss."""

from __future__ import annotations

import json

from tests.harness import report


def _write(folder, *rows) -> None:
    with open(folder / "harness-gw0.jsonl", "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def test_counts_add_up_per_suite_and_in_total(tmp_path, capsys):
    _write(
        tmp_path,
        {"suite": "load", "requests": 100, "acked": 40, "found": 40, "errors": 0},
        {"suite": "load", "requests": 50, "acked": 10, "found": 10},
        {"suite": "schemathesis", "cases": 300, "failures": 0},
        {"suite": "faults", "kills": 12, "acked": 5, "found": 5},
    )
    assert report.main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["suites"]["load"]["requests"] == 150
    assert summary["suites"]["load"]["tests"] == 2
    assert (summary["acked"], summary["found"], summary["kills"], summary["cases"]) == (
        55,
        55,
        12,
        300,
    )
    assert out.splitlines()[0].split()[:3] == ["suite", "tests", "requests"]
    assert json.loads((tmp_path / "harness-summary.json").read_text()) == summary


def test_a_failure_a_loss_or_nothing_recorded_fails_the_run(tmp_path):
    assert report.main(["report", str(tmp_path)]) == 1  # nothing ran
    for bad in ({"failures": 1}, {"lost": 1}, {"doubled": 2}):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        _write(folder, {"suite": "x", "requests": 1}, {"suite": "y", **bad})
        assert report.main(["report", str(folder)]) == 1
