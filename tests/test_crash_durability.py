"""kill -9 during a stream of writes, repeated: no acknowledged write is lost, integrity stays ok.

Each round starts `python -m app serve` on the same data dir, streams POSTs from several
keep-alive clients, SIGKILLs the service at a random moment, then checks the SQLite file
directly. STRESS_KILLS sets the number of rounds (default 10; `make stress` runs 50) and
CRASH_SEED the random seed, so a failing schedule can be replayed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.common import report
from tests.procs import Service

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("STRESS_KILLS", "10"))
SEED = int(os.environ.get("CRASH_SEED", "20261122"))
WRITERS = 4
KILL_DELAY = (0.3, 1.5)  # seconds after the first acknowledgement
READY_TIMEOUT = 30.0


class Writer(threading.Thread):
    """POSTs unique titles on one keep-alive connection until told to stop or the server dies."""

    def __init__(
        self,
        service: Service,
        prefix: str,
        acked: list,
        first_ack: threading.Event,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"writer-{prefix}", daemon=True)
        self.service, self.prefix = service, prefix
        self.acked, self.first_ack, self.stop = acked, first_ack, stop
        self.attempted = 0
        self.died_with: str | None = None  # how the connection ended (expected after the kill)
        self.unexpected: list[str] = []  # non-200 answers or bad bodies from a live server

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.service.host, self.service.port, timeout=10)
        try:
            seq = 0
            while not self.stop.is_set():
                title = f"{self.prefix}-{seq:06d}"
                seq += 1
                self.attempted += 1
                body = json.dumps({"title": title, "description": "crash durability"})
                try:
                    conn.request(
                        "POST",
                        "/api/v1/items/",
                        body=body,
                        headers={"Content-Type": "application/json"},
                    )
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    # The kill: this request was in flight and is not acknowledged.
                    self.died_with = type(exc).__name__
                    return
                if response.status != 200:
                    self.unexpected.append(f"{title}: {response.status} {payload[:200]!r}")
                    return
                item = json.loads(payload)
                if item.get("title") != title or not item.get("id"):
                    self.unexpected.append(f"{title}: answered {item!r}")
                    return
                self.acked.append(title)  # list.append is atomic: no lock needed
                self.first_ack.set()
        except Exception as exc:  # noqa: BLE001 - reported by the test, not a thread error
            self.unexpected.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


def read_titles(db_path: Path) -> tuple[str, list[str]]:
    """integrity_check's answer and every item title, read from the file of a dead service."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        check = "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
        titles = [row[0] for row in conn.execute("SELECT title FROM item")]
    finally:
        conn.close()
    return check, titles


def list_titles_over_http(service: Service) -> list[str]:
    """Every item title, paged through the API of a live service."""
    conn = http.client.HTTPConnection(service.host, service.port, timeout=30)
    try:
        titles: list[str] = []
        while True:
            conn.request("GET", f"/api/v1/items/?limit=1000&skip={len(titles)}")
            response = conn.getresponse()
            page = json.loads(response.read())
            assert response.status == 200, page
            titles += [item["title"] for item in page["data"]]
            if not page["data"] or len(titles) >= page["count"]:
                assert len(titles) == page["count"], (len(titles), page["count"])
                return titles
    finally:
        conn.close()


def crash_round(data_dir: Path, logs: Path, round_no: int, rng: random.Random) -> dict:
    """Start, write from WRITERS clients, SIGKILL after a random delay; returns what happened."""
    service = Service(data_dir, logs / f"serve-{round_no:03d}.err")
    acked: list[str] = []
    first_ack, stop = threading.Event(), threading.Event()
    writers = [
        Writer(service, f"k{round_no:03d}-w{i}", acked, first_ack, stop) for i in range(WRITERS)
    ]
    try:
        for writer in writers:
            writer.start()
        assert first_ack.wait(READY_TIMEOUT), "no write was acknowledged"
        delay = rng.uniform(*KILL_DELAY)
        time.sleep(delay)
        status = service.kill9()
        assert status == -signal.SIGKILL, status
        wal = data_dir / "app.db-wal"
        wal_bytes = wal.stat().st_size if wal.exists() else 0
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
        service.stop()
    assert not any(w.is_alive() for w in writers), "a writer thread hung after the kill"
    unexpected = [msg for w in writers for msg in w.unexpected]
    assert not unexpected, f"the live service answered badly: {unexpected[:5]}"
    return {
        "acked": set(acked),
        "attempted": sum(w.attempted for w in writers),
        "in_flight": sum(w.died_with is not None for w in writers),
        "delay": delay,
        "wal_bytes": wal_bytes,
    }


@pytest.mark.slow
def test_kill_9_during_writes_loses_no_acknowledged_write(tmp_path):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    db_path = data_dir / "app.db"
    rng = random.Random(SEED)
    started = time.monotonic()
    print(f"\ncrash durability: {ROUNDS} rounds, seed {SEED}, {WRITERS} writers")
    # Counts for make stress's table, written whether or not the test passes.
    tally = {
        "kills": 0,
        "requests": 0,
        "acked": 0,
        "found": 0,
        "lost": 0,
        "doubled": 0,
        "failures": 1,
    }
    try:
        _rounds(data_dir, logs, db_path, rng, tally, started)
        tally["failures"] = 0
    finally:
        report("crash", "kill_9_during_writes", **tally)


def _rounds(data_dir, logs, db_path, rng, tally, started) -> None:
    acked_so_far: set[str] = set()
    present_before: set[str] = set()
    unacked_landed_total = 0

    for round_no in range(ROUNDS):
        result = crash_round(data_dir, logs, round_no, rng)
        acked_so_far |= result["acked"]

        # Only now, with the service reaped, is the file read directly.
        check, titles = read_titles(db_path)
        assert check == "ok", f"round {round_no}: integrity_check said {check}"
        counts = Counter(titles)
        twice = sorted(t for t, n in counts.items() if n > 1)
        present = set(counts)
        lost = acked_so_far - present
        tally.update(
            kills=round_no + 1,
            requests=tally["requests"] + result["attempted"],
            acked=len(acked_so_far),
            found=len(acked_so_far & present),
            lost=len(lost),
            doubled=len(twice),
        )
        assert not twice, f"round {round_no}: titles stored more than once: {twice[:10]}"
        assert not lost, (
            f"round {round_no}: {len(lost)} acknowledged write(s) lost "
            f"(seed {SEED}), e.g. {sorted(lost)[:10]}"
        )
        # A committed but unacknowledged row from an earlier round is still committed data.
        vanished = present_before - present
        assert not vanished, f"round {round_no}: rows gone after a restart: {sorted(vanished)[:10]}"
        prefix = f"k{round_no:03d}-"
        landed = {t for t in present if t.startswith(prefix)}
        unacked_landed = landed - result["acked"]
        unacked_landed_total += len(unacked_landed)
        # Every landed row was one a writer sent; at most one in flight per writer at the kill.
        assert len(unacked_landed) <= result["in_flight"], (unacked_landed, result["in_flight"])
        present_before = present
        print(
            f"  round {round_no:3d}: killed {result['delay']:.2f}s after the first ack; "
            f"acked {len(result['acked'])}/{result['attempted']} sent, "
            f"in flight {result['in_flight']}, landed unacked {len(unacked_landed)}, "
            f"lost 0, wal {result['wal_bytes']} bytes"
        )

    # After the last kill the service still starts, and the API sees exactly the same rows.
    service = Service(data_dir, logs / "serve-final.err")
    try:
        over_http = list_titles_over_http(service)
        service.proc.send_signal(signal.SIGTERM)
        assert service.proc.wait(timeout=15) == 0
    finally:
        service.stop()
    assert Counter(over_http) == Counter(present_before)
    check, titles = read_titles(db_path)
    assert check == "ok" and set(titles) == present_before

    print(
        f"  total: {len(acked_so_far)} acknowledged, 0 lost, "
        f"{unacked_landed_total} landed without acknowledgement, "
        f"{time.monotonic() - started:.1f}s"
    )
