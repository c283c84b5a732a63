"""Benchmark sync: ops/s in batches of 1,000; catching up a client 100,000 changes behind.

Starts ``python -m app serve`` on a fresh temporary data dir (SQLite), then over HTTP on loopback:

* applies batches of 1,000 INSERTs of new items (enough of them to fill the feed with
  --changes entries, 100,000 by default), then batches of 1,000 mixed operations (60% INSERT,
  30% UPDATE and 10% DELETE of existing rows), timing each request: operations/s per batch;
* catches up a new client (no cursor) through the whole feed, pages of --page changes, timing
  the whole walk; repeated --repeats times.

Baselines measured in the same run on the same machine: the same 1,000-row batch written with
raw sqlite3 (item rows plus feed rows, one transaction, executemany) and the same feed read with
raw sqlite3 plus JSON encoding, in one process: ceilings nothing over HTTP can reach. Every figure
is a median; the table is printed and written to bench/results/sync-<UTC stamp>.txt, and with
--json the figures go to that file for ``make bench``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
SYNC = "/api/v1/sync"
BATCH = 1000
SCRUBBED_ENV = (
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_NAME",
    "HOST",
    "PORT",
    "AUTH_REQUIRED",
    "LOG_LEVEL",
)


class Service:
    """``python -m app serve`` on a fresh data dir, stopped with SIGTERM."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                "--log-level",
                "WARNING",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        readable, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if readable else b""
        if not line:
            self.stop()
            raise SystemExit("bench-sync: the service gave no ready line")
        self.port = json.loads(line)["port"]
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)

    def post(self, body: dict) -> tuple[dict, float]:
        """POST /sync on the kept-alive connection: (answer, seconds)."""
        payload = json.dumps(body)
        began = time.perf_counter()
        self.conn.request("POST", SYNC, body=payload, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise SystemExit(f"bench-sync: {response.status} {data[:300]!r}")
        return json.loads(data), elapsed

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def stamp(base: datetime, n: int) -> str:
    return (base + timedelta(microseconds=n)).isoformat()


def insert_batch(n0: int, base: datetime) -> tuple[list[dict], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(BATCH)]
    ops = [
        {
            "id": f"i{n0 + i}",
            "table": "items",
            "operation": "INSERT",
            "data": {"id": row, "title": f"bench item {n0 + i}", "description": "sync bench"},
            "timestamp": stamp(base, n0 + i),
        }
        for i, row in enumerate(ids)
    ]
    return ops, ids


def mixed_batch(n0: int, base: datetime, live: list[str]) -> list[dict]:
    """600 INSERTs, 300 UPDATEs and 100 DELETEs of rows that exist (taken off ``live``)."""
    ops = []
    for i in range(600):
        row = str(uuid.uuid4())
        live.append(row)
        ops.append(
            {
                "id": f"m{n0 + i}",
                "table": "items",
                "operation": "INSERT",
                "data": {"id": row, "title": f"mixed {n0 + i}"},
                "timestamp": stamp(base, n0 + i),
            }
        )
    for i in range(300):
        ops.append(
            {
                "id": f"m{n0 + 600 + i}",
                "table": "items",
                "operation": "UPDATE",
                "data": {
                    "id": live[-(i + 700)],
                    "title": f"updated {n0 + i}",
                    "description": "changed",
                },
                "timestamp": stamp(base, n0 + 600 + i),
            }
        )
    for i in range(100):
        ops.append(
            {
                "id": f"m{n0 + 900 + i}",
                "table": "items",
                "operation": "DELETE",
                "data": {"id": live.pop(0)},
                "timestamp": stamp(base, n0 + 900 + i),
            }
        )
    return ops


def catch_up(service: Service, page: int) -> tuple[float, int, int]:
    """A new client walks the whole feed: (seconds, changes, pages)."""
    cursor, changes, pages = None, 0, 0
    began = time.perf_counter()
    while True:
        body = {"client_id": f"reader-{uuid.uuid4().hex[:8]}", "limit": page}
        if cursor:
            body["cursor"] = cursor
        out, _ = service.post(body)
        changes += len(out["changes"])
        pages += 1
        cursor = out["cursor"]
        if not out["has_more"]:
            return time.perf_counter() - began, changes, pages


# --------------------------------------------------------------------------- raw sqlite3 ceilings


def raw_db(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE item (id CHAR(32) PRIMARY KEY, title VARCHAR(255) NOT NULL, "
        "description VARCHAR(255), owner_id CHAR(32) NOT NULL, created_at DATETIME "
        "NOT NULL, updated_at DATETIME NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE sync_row (tbl VARCHAR(100), row_id CHAR(32), seq BIGINT NOT NULL "
        "UNIQUE, deleted BOOLEAN NOT NULL, ts DATETIME NOT NULL, client_id VARCHAR(100) "
        "NOT NULL, op_id VARCHAR(100) NOT NULL, owner_id CHAR(32), "
        "PRIMARY KEY (tbl, row_id))"
    )
    conn.execute("CREATE INDEX ix_sync_row_owner_id_seq ON sync_row (owner_id, seq)")
    return conn


def raw_write(conn: sqlite3.Connection, ops: list[dict], seq0: int, owner: str) -> float:
    """The batch's rows and feed entries, one transaction: seconds."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    began = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO item VALUES (?,?,?,?,?,?)",
        [
            (
                o["data"]["id"].replace("-", ""),
                o["data"]["title"],
                o["data"].get("description"),
                owner,
                now,
                now,
            )
            for o in ops
        ],
    )
    conn.executemany(
        "INSERT INTO sync_row VALUES (?,?,?,?,?,?,?,?)",
        [
            (
                "items",
                o["data"]["id"].replace("-", ""),
                seq0 + i,
                0,
                o["timestamp"],
                "c",
                o["id"],
                owner,
            )
            for i, o in enumerate(ops)
        ],
    )
    conn.execute("COMMIT")
    return time.perf_counter() - began


def raw_catch_up(conn: sqlite3.Connection, page: int) -> float:
    """The whole feed, paged by seq, joined to the rows and encoded as JSON: seconds."""
    began = time.perf_counter()
    after = 0
    while True:
        rows = conn.execute(
            "SELECT s.seq, s.row_id, s.deleted, s.ts, s.client_id, s.op_id, i.title, "
            "i.description, i.owner_id, i.created_at, i.updated_at FROM sync_row s LEFT JOIN "
            "item i ON i.id = s.row_id WHERE s.seq > ? ORDER BY s.seq LIMIT ?",
            (after, page),
        ).fetchall()
        if not rows:
            return time.perf_counter() - began
        json.dumps(
            [
                {
                    "seq": r[0],
                    "id": r[1],
                    "operation": "DELETE" if r[2] else "UPSERT",
                    "timestamp": r[3],
                    "client_id": r[4],
                    "operation_id": r[5],
                    "data": {
                        "title": r[6],
                        "description": r[7],
                        "owner_id": r[8],
                        "created_at": r[9],
                        "updated_at": r[10],
                    },
                }
                for r in rows
            ]
        )
        after = rows[-1][0]


# --------------------------------------------------------------------------- the run


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--changes",
        type=int,
        default=100_000,
        help="feed entries to build before the catch-up (default 100000)",
    )
    parser.add_argument("--mixed", type=int, default=10, help="mixed batches (default 10)")
    parser.add_argument("--page", type=int, default=5000, help="catch-up page size (max 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="catch-up walks (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    base = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    service = Service(folder / "data")
    insert_rates, mixed_rates, raw_rates, walks, raw_walks = [], [], [], [], []
    try:
        raw = raw_db(folder)
        owner = uuid.uuid4().hex
        live: list[str] = []
        batches = max(1, args.changes // BATCH)
        for b in range(batches):
            ops, ids = insert_batch(b * BATCH, base)
            out, seconds = service.post({"client_id": "writer", "operations": ops, "limit": 1})
            if len(out["changes_applied"]) != BATCH:
                conflicts = len(out["conflicts"])
                raise SystemExit(f"bench-sync: {conflicts} conflicts in an insert batch")
            insert_rates.append(BATCH / seconds)
            raw_rates.append(BATCH / raw_write(raw, ops, b * BATCH + 1, owner))
            live += ids
        for m in range(args.mixed):
            ops = mixed_batch(10_000_000 + m * BATCH, base + timedelta(hours=1), live)
            out, seconds = service.post({"client_id": "writer", "operations": ops, "limit": 1})
            if len(out["changes_applied"]) != BATCH:
                raise SystemExit(f"bench-sync: conflicts in a mixed batch: {out['conflicts'][:3]}")
            mixed_rates.append(BATCH / seconds)
        feed_size = None
        for _ in range(args.repeats):
            seconds, changes, pages = catch_up(service, args.page)
            feed_size = changes
            walks.append(seconds)
            raw_walks.append(raw_catch_up(raw, args.page))
        raw.close()
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)
    load_after = os.getloadavg()[0]
    figures = {
        "sync_insert_ops_per_s": median(insert_rates),
        "sync_mixed_ops_per_s": median(mixed_rates),
        "raw_sqlite_insert_ops_per_s": median(raw_rates),
        "catch_up_s": median(walks),
        "catch_up_changes": feed_size,
        "raw_sqlite_catch_up_s": median(raw_walks),
        "batches": {"insert": len(insert_rates), "mixed": len(mixed_rates)},
        "page": args.page,
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }
    stamp_now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        f"bench-sync {stamp_now} on {platform.node()} ({os.cpu_count()} cores), Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; load average "
        f"{load_before:.2f} before, {load_after:.2f} after (other processes disturb figures)",
        "",
        f"{'figure':<48} {'service':>12} {'raw sqlite3':>12} {'ratio':>7}",
        f"{'INSERT batches of 1,000: operations/s':<48} {figures['sync_insert_ops_per_s']:>12,.0f}"
        f" {figures['raw_sqlite_insert_ops_per_s']:>12,.0f}"
        f" {figures['sync_insert_ops_per_s'] / figures['raw_sqlite_insert_ops_per_s']:>6.2f}x",
        f"{'mixed batches of 1,000 (60/30/10): ops/s':<48} "
        f"{figures['sync_mixed_ops_per_s']:>12,.0f}"
        f" {'':>12} {'':>7}",
        f"{f'catch up {feed_size:,} changes (pages of {args.page}): s':<48}"
        f" {figures['catch_up_s']:>12.2f} {figures['raw_sqlite_catch_up_s']:>12.2f}"
        f" {figures['raw_sqlite_catch_up_s'] / figures['catch_up_s']:>6.2f}x",
        "",
        f"medians of {len(insert_rates)} insert batches, {len(mixed_rates)} mixed batches and "
        f"{len(walks)} catch-up walks; ratios are the service as a share of raw speed "
        "(1.00x = as fast as raw).",
        "The service figures include HTTP on loopback, JSON, validation, last-write-wins checks,",
        "idempotency records and the feed; raw sqlite3 does only the two INSERTs or the read.",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"sync-{stamp_now}.txt").write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
