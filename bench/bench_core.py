"""Benchmark PyDAL batch inserts against raw sqlite3 on the migrated schema, and one parity run."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydal

from services.db.dal import open_dal
from services.db.migrations import upgrade
from services.db.parity import run_parity
from services.db.pragmas import SQLITE_PRAGMAS, apply_sqlite_pragmas
from services.db.urls import DatabaseTarget, sqlite_target

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Rows per multi-row INSERT: values are inlined, so SQLite's variable limit does not bind, but
# a bounded statement keeps parse time and memory flat whatever --batch is.
MAX_ROWS_PER_STATEMENT = 1000
# If the first bulk_insert run alone projects past this for the remaining repeats, it runs once:
# the whole benchmark should stay within a few minutes on a small machine.
BULK_INSERT_REPEAT_BUDGET_S = 60.0
ITEM_COLUMNS = ("id", "title", "description", "owner_id", "created_at", "updated_at")
SAMPLES = 5  # rows per database checked field by field after each path


@dataclass(frozen=True)
class Rows:
    """One data set, as Python values, shared by every path so they write identical rows."""

    owner: dict
    items: list[dict]


def make_rows(n: int, seed: int = 1430) -> Rows:
    """``n`` items owned by one user; seeded so each run writes the same bytes."""
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, 12, 0, 0)

    def new_uuid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    owner = {
        "id": new_uuid(),
        "email": "bench@example.com",
        "full_name": "Bench Owner",
        "hashed_password": "x" * 60,
        "is_active": True,
        "is_superuser": False,
        "created_at": base,
        "updated_at": base,
    }
    items = []
    for i in range(n):
        stamp = base + timedelta(seconds=i, microseconds=i % 1_000_000)
        items.append(
            {
                "id": new_uuid(),
                "title": f"item {i}",
                # Every tenth NULL, and a quote: exercises the representer's NULL and escaping.
                "description": None if i % 10 == 0 else f"what's in item {i}",
                "owner_id": owner["id"],
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    return Rows(owner, items)


def batches(seq: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def fresh_target(folder: Path, name: str) -> DatabaseTarget:
    """A new SQLite file migrated to head, so every path starts from the same empty schema."""
    target = sqlite_target(folder / f"{name}.db")
    upgrade(target)
    return target


# --------------------------------------------------------------------------- the paths


def insert_owner_pydal(db, rows: Rows) -> None:
    db.user.insert(**rows.owner)
    db.commit()


def pydal_bulk_insert(db, rows: Rows, batch: int) -> None:
    # PyDAL's bulk_insert is a Python loop of single-row INSERTs; this is what app code gets.
    for chunk in batches(rows.items, batch):
        db.item.bulk_insert(chunk)
        db.commit()


def pydal_batched(db, rows: Rows, batch: int) -> None:
    # One multi-row INSERT per batch, every value encoded by PyDAL's own representer (which runs
    # the custom types' encoders and quotes), on PyDAL's own connection.
    table = db.item
    fields = [table[name] for name in ITEM_COLUMNS]
    represent = db._adapter.represent
    head = f"INSERT INTO {table._rname} ({','.join(f._rname for f in fields)}) VALUES "
    for chunk in batches(rows.items, batch):
        for part in batches(chunk, MAX_ROWS_PER_STATEMENT):
            values = ",".join(
                "(" + ",".join(represent(row[f.name], f.type) for f in fields) + ")" for row in part
            )
            db.executesql(head + values)
        db.commit()


def raw_connect(target: DatabaseTarget) -> sqlite3.Connection:
    # The same per-connection pragmas both layers apply (WAL, synchronous=NORMAL, foreign keys),
    # and sqlite3's default transaction handling, as PyDAL's connection has.
    conn = sqlite3.connect(str(target.sqlite_path))
    apply_sqlite_pragmas(conn.execute)
    return conn


def _dt(value: datetime) -> str:
    return value.isoformat(" ", timespec="microseconds")


def insert_owner_raw(conn: sqlite3.Connection, rows: Rows) -> None:
    o = rows.owner
    conn.execute(
        'INSERT INTO "user" (id, email, full_name, hashed_password, is_active, is_superuser,'
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            o["id"].hex,
            o["email"],
            o["full_name"],
            o["hashed_password"],
            1,
            0,
            _dt(o["created_at"]),
            _dt(o["updated_at"]),
        ),
    )
    conn.commit()


def raw_sqlite(conn: sqlite3.Connection, rows: Rows, batch: int) -> None:
    # Encoding to SQLAlchemy's storage format (hex uuid, datetime text) is timed here too, since
    # the PyDAL paths pay for their encoders inside the timing as well.
    sql = f"INSERT INTO item ({', '.join(ITEM_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"
    for chunk in batches(rows.items, batch):
        conn.executemany(
            sql,
            [
                (
                    r["id"].hex,
                    r["title"],
                    r["description"],
                    r["owner_id"].hex,
                    _dt(r["created_at"]),
                    _dt(r["updated_at"]),
                )
                for r in chunk
            ],
        )
        conn.commit()


# --------------------------------------------------------------------------- verification


def sample_indexes(n: int) -> list[int]:
    return sorted({0, n // 3, n // 2, (2 * n) // 3, n - 1})[:SAMPLES]


def verify(target: DatabaseTarget, rows: Rows, label: str) -> list[tuple]:
    """Count and sample rows through PyDAL, so a path cannot silently write nothing or garbage.

    Returns the sampled rows as stored (raw sqlite3), to check every path stored the same bytes.
    """
    n = len(rows.items)
    db = open_dal(target)
    try:
        count = db(db.item).count()
        if count != n:
            raise AssertionError(f"{label}: item count {count}, expected {n}")
        for i in sample_indexes(n):
            want = rows.items[i]
            got = db(db.item.id == want["id"]).select().first()
            if got is None:
                raise AssertionError(f"{label}: item {i} ({want['id']}) not found through PyDAL")
            for name in ITEM_COLUMNS:
                if got[name] != want[name]:
                    raise AssertionError(
                        f"{label}: item {i}.{name} reads back {got[name]!r}, wrote {want[name]!r}"
                    )
    finally:
        db.close()
    conn = sqlite3.connect(str(target.sqlite_path))
    try:
        return [
            conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM item WHERE id = ?",
                (rows.items[i]["id"].hex,),
            ).fetchone()
            for i in sample_indexes(n)
        ]
    finally:
        conn.close()


# --------------------------------------------------------------------------- one repetition


@dataclass
class Figure:
    """One measured figure over the repeats."""

    name: str
    unit: str  # "rows/s" or "s"
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)


def timed(fn: Callable[[], None]) -> float:
    # Collect garbage left by the previous path so it is not charged to this one.
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_pydal_path(
    folder: Path, name: str, rows: Rows, batch: int, path: Callable
) -> tuple[float, list[tuple]]:
    target = fresh_target(folder, name)
    db = open_dal(target)
    try:
        insert_owner_pydal(db, rows)
        seconds = timed(lambda: path(db, rows, batch))
    finally:
        db.close()
    return seconds, verify(target, rows, name)


def run_raw_path(folder: Path, name: str, rows: Rows, batch: int) -> tuple[float, list[tuple]]:
    target = fresh_target(folder, name)
    conn = raw_connect(target)
    try:
        insert_owner_raw(conn, rows)
        seconds = timed(lambda: raw_sqlite(conn, rows, batch))
    finally:
        conn.close()
    return seconds, verify(target, rows, name)


def run_parity_once(folder: Path, name: str) -> float:
    target = fresh_target(folder, name)
    report = None

    def go() -> None:
        nonlocal report
        report = run_parity(target)

    seconds = timed(go)
    if report is None or not report.ok:
        raise AssertionError("parity run failed:\n" + (report.render() if report else "no report"))
    return seconds


# --------------------------------------------------------------------------- output


def fmt(value: float, unit: str) -> str:
    return f"{value:,.0f} rows/s" if unit == "rows/s" else f"{value:.2f} s"


def render(
    figures: list[Figure], args, elapsed: float, folder: str, loads: tuple[float, float]
) -> str:
    raw = figures[0]
    pragmas = "; ".join(p.removeprefix("PRAGMA ") for p in SQLITE_PRAGMAS)
    lines = [
        "bench-core: item inserts through PyDAL vs raw sqlite3, and one full parity run",
        f"  {args.rows:,} items per path, batches of {args.batch:,} (one commit per batch), "
        f"{args.repeat} repeat(s); fresh migrated SQLite file per path and repeat",
        f"  pragmas on every connection: {pragmas}",
        f"  Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"pydal {pydal.__version__}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); temporary files under {folder}",
        f"  load average before/after: {loads[0]:.2f}/{loads[1]:.2f} (other processes on this "
        "machine skew the numbers)",
        "",
        f"  {'figure':<20}{'median':>18}{'min':>18}{'max':>18}{'runs':>6}  vs raw sqlite3",
    ]
    for fig in figures:
        ratio = f"{fig.median / raw.median:.2f}x" if fig.unit == "rows/s" else ""
        lines.append(
            f"  {fig.name:<20}{fmt(fig.median, fig.unit):>18}{fmt(min(fig.values), fig.unit):>18}"
            f"{fmt(max(fig.values), fig.unit):>18}{len(fig.values):>6}  {ratio}"
        )
    lines.append("")
    for fig in figures[1:]:
        if fig.unit == "rows/s":
            lines.append(f"  {fig.name} / raw sqlite3 = {fig.median / raw.median:.2f}x (medians)")
    notes = [f"  note: {fig.name}: {fig.note}" for fig in figures if fig.note]
    lines += [
        "  pydal bulk_insert: Table.bulk_insert, which PyDAL runs as one INSERT per row",
        "  pydal batched: one multi-row INSERT per batch (at most "
        f"{MAX_ROWS_PER_STATEMENT:,} rows per statement), values encoded by "
        "db._adapter.represent, run with db.executesql",
        "  raw sqlite3: executemany per batch; encoding to hex uuid and datetime text is timed",
        "  every path checked: item count == rows, sampled rows read back equal through PyDAL "
        "and are stored byte-identical across paths",
        *notes,
        f"  total benchmark time {elapsed:.1f} s",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="items per path (100000)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per commit (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (3)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH",
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.batch < 1 or args.repeat < 1:
        parser.error("--rows, --batch and --repeat must be positive")

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows = make_rows(args.rows)
    raw = Figure("raw sqlite3", "rows/s")
    bulk = Figure("pydal bulk_insert", "rows/s")
    batched = Figure("pydal batched", "rows/s")
    parity = Figure("parity run", "s")
    bulk_repeats = args.repeat

    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        folder = Path(tmp)
        for rep in range(args.repeat):
            stored = {}
            seconds, stored["raw"] = run_raw_path(folder, f"raw-{rep}", rows, args.batch)
            raw.values.append(args.rows / seconds)
            if rep < bulk_repeats:
                seconds, stored["bulk"] = run_pydal_path(
                    folder, f"bulk-{rep}", rows, args.batch, pydal_bulk_insert
                )
                bulk.values.append(args.rows / seconds)
                if rep == 0 and seconds * (args.repeat - 1) > BULK_INSERT_REPEAT_BUDGET_S:
                    bulk_repeats = 1
                    bulk.note = (
                        f"1 run only (it took {seconds:.1f} s; {args.repeat - 1} more "
                        f"would exceed the {BULK_INSERT_REPEAT_BUDGET_S:.0f} s budget)"
                    )
            seconds, stored["batched"] = run_pydal_path(
                folder, f"batched-{rep}", rows, args.batch, pydal_batched
            )
            batched.values.append(args.rows / seconds)
            if len({tuple(v) for v in stored.values()}) != 1:
                raise AssertionError(f"paths stored different bytes for the sampled rows: {stored}")
            parity.values.append(run_parity_once(folder, f"parity-{rep}"))
            # Each path leaves a ~100k-row file behind; drop them so the temp dir stays small.
            for file in folder.iterdir():
                file.unlink()
            print(f"  repeat {rep + 1}/{args.repeat} done", file=sys.stderr, flush=True)
        loads = (load_before, os.getloadavg()[0])
        text = render(
            [raw, bulk, batched, parity],
            args,
            time.perf_counter() - started,
            str(folder.parent),
            loads,
        )

    print(text, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"core-{stamp}.txt"
    out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(RESULTS_DIR.parents[1])}")
    if args.json is not None:
        figures = {
            fig.name: {
                "unit": fig.unit,
                "median": fig.median,
                "min": min(fig.values),
                "max": max(fig.values),
                "values": fig.values,
                "note": fig.note,
            }
            for fig in (raw, bulk, batched, parity)
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "bench": "core",
                    "ok": True,
                    "rows": args.rows,
                    "batch": args.batch,
                    "repeat": args.repeat,
                    "figures": figures,
                    "load_average": list(loads),
                    "cpus": os.cpu_count(),
                    "text_file": str(out.relative_to(RESULTS_DIR.parents[1])),
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
