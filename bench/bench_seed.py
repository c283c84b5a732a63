"""Benchmark seeding: 100,000 linked rows over 5 entities with ``python -m app seed``.

Each repeat creates a fresh data dir (main database migrated, one user, the bench model and its
SQLite app database made by services.appdb.catalog.create_model), then runs the CLI in a child
process, ``python -m app seed MODEL --count N``, progress bar included, and measures:

* end to end: spawn to exit of the CLI process (interpreter start, imports, seed, commit);
* peak memory: the child's own peak RSS at exit (``VmHWM`` of /proc/self/status on Linux: unlike
  ``ru_maxrss``, which a child inherits from its parent across fork and exec, it counts only the
  new program), and its CPU time (user and system), which other load inflates less than wall time;
* the CLI's fixed cost: the same command with ``--count 0`` on the empty database first
  (interpreter, imports, opening both databases, Faker's locale), time and peak RSS;
* Faker's share: the time the seeder spent in Faker filling its value pools, read from the
  seeder's ``stats`` (the child runs the real CLI through a small wrapper that passes a stats
  dict to ``services.appdb.seed.seed`` and writes it out at exit);
* raw sqlite3: the very rows the CLI wrote are read back and inserted into a fresh database with
  the same schema and pragmas with ``executemany``, one transaction, timed (no encoding: the
  values are already in their stored form, so this is the floor for the database work alone).

If the CLI cannot run (say it is not wired yet), the child calls the library function
``services.appdb.seed.seed`` with a tqdm progress bar instead, and the output says so.
Results go to stdout and ``bench/results/seed-<UTC stamp>.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
SCRUBBED_ENV = (
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_NAME",
    "HOST",
    "PORT",
    "AUTH_REQUIRED",
    "LOG_LEVEL",
)
TARGET_SECONDS = 3.0
TARGET_RSS_MB = 100.0
MODEL_ID = "bench-seed"

# Five linked entities: a self-reference, four OneToMany references (one required) and a
# ManyToMany; unique, enum, text, JSON, date and datetime fields.
BENCH_MODEL = {
    "entities": [
        {
            "name": "customer",
            "fields": [
                {"name": "first_name", "type": "String", "required": True},
                {"name": "last_name", "type": "String", "required": True},
                {"name": "email", "type": "String", "required": True, "unique": True},
                {"name": "phone", "type": "String"},
                {"name": "city", "type": "String"},
                {"name": "age", "type": "Integer"},
                {"name": "vip", "type": "Boolean"},
                {"name": "referred_by", "type": "Reference", "target": "customer"},
            ],
        },
        {
            "name": "category",
            "fields": [
                {"name": "name", "type": "String", "required": True, "unique": True},
                {"name": "description", "type": "Text"},
            ],
        },
        {
            "name": "product",
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "sku", "type": "String", "unique": True},
                {"name": "price", "type": "Float"},
                {"name": "tags", "type": "Array"},
                {"name": "released_on", "type": "Date"},
            ],
        },
        {
            "name": "purchase",
            "fields": [
                {"name": "placed_at", "type": "DateTime"},
                {"name": "quantity", "type": "Integer"},
                {"name": "status", "type": "Enum", "values": ["new", "paid", "shipped"]},
            ],
        },
        {
            "name": "review",
            "fields": [
                {"name": "rating", "type": "Integer"},
                {"name": "comment", "type": "Text"},
                {"name": "product", "type": "Reference", "target": "product", "required": True},
            ],
        },
    ],
    "relationships": [
        {"type": "OneToMany", "from": "category", "to": "product", "name": "category"},
        {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
        {"type": "OneToMany", "from": "customer", "to": "review", "name": "author"},
        {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
    ],
}

# Runs the real CLI (app/__main__.py) after wrapping services.appdb.seed.seed so that it fills a
# stats dict; writes the stats, the seed answer and the peak RSS to $BENCH_SEED_OUT at exit.
PEAK_RSS = """
def _peak_rss_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""
CLI_WRAPPER = (
    """
import json, os, resource, runpy, sys
"""
    + PEAK_RSS
    + """
import services.appdb.seed as _seed
_stats, _answer, _real = {}, {}, _seed.seed
def _wrapped(**kwargs):
    kwargs.setdefault("stats", _stats)
    _answer.update(_real(**kwargs))
    return _answer
_seed.seed = _wrapped
code = 0
try:
    runpy.run_module("app", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["BENCH_SEED_OUT"], "w") as out:
        json.dump({"stats": _stats, "answer": _answer, "maxrss_kb": _peak_rss_kb(),
                   "cpu_s": usage.ru_utime + usage.ru_stime}, out)
sys.exit(code)
"""
)

# The fallback: the library function with a tqdm bar, on an app database made beforehand.
LIBRARY_CHILD = (
    """
import json, os, resource, sys
"""
    + PEAK_RSS
    + """
from services.appdb.definition import Definition
from services.appdb.schema import define_pydal
from services.appdb.seed import progress_bar, seed
from services.db.dal import close_dal, open_dal
from services.db.urls import sqlite_target
path, count, seed_value = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
definition = Definition.model_validate(json.loads(os.environ["BENCH_SEED_MODEL"]))
target = sqlite_target(path)
db = open_dal(target, define=False)
define_pydal(db, definition, target.family)
stats = {}
try:
    with progress_bar(file=sys.stderr, disable=False) as progress:
        answer = seed(db=db, definition=definition, max_instances_per_entity=count,
                      seed=seed_value, progress=progress, stats=stats)
finally:
    close_dal(db)
print(json.dumps(answer))
usage = resource.getrusage(resource.RUSAGE_SELF)
with open(os.environ["BENCH_SEED_OUT"], "w") as out:
    json.dump({"stats": stats, "answer": answer, "maxrss_kb": _peak_rss_kb(),
               "cpu_s": usage.ru_utime + usage.ru_stime}, out)
"""
)


@dataclass
class Run:
    """One repeat's measurements."""

    mode: str  # "cli" or "library"
    wall_s: float
    cpu_s: float
    seed_s: float
    faker_s: float
    sql_s: float
    rss_mb: float
    answer: dict
    base_wall_s: float = 0.0  # the same command with --count 0
    base_rss_mb: float = 0.0
    raw_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def definition():
    from services.appdb.definition import Definition, validate_definition

    return validate_definition(Definition.model_validate(BENCH_MODEL))


def prepare_cli(folder: Path, model_id: str) -> Path:
    """A data dir with the main database migrated, one user and the bench model; its app db."""
    from services.appdb import catalog
    from services.appdb.definition import ModelIn
    from services.config import load_settings
    from services.db.dal import close_dal, open_dal
    from services.db.migrations import upgrade

    settings = load_settings({"data_dir": str(folder)}, environ={})
    upgrade(settings.database)
    db = open_dal(settings.database)
    try:
        owner = db.user.insert(
            email="bench@example.com", full_name="Bench", hashed_password="x" * 60
        )["id"]
        model_in = ModelIn.model_validate(
            {"id": model_id, "name": "Seed bench", "definition": BENCH_MODEL}
        )
        row = catalog.create_model(db=db, settings=settings, owner_id=owner, model_in=model_in)
        db.commit()
        return catalog.app_database(settings=settings, row=row).target.sqlite_path
    finally:
        close_dal(db)


def prepare_library(folder: Path) -> Path:
    """A bare SQLite app database with the bench model's tables."""
    from services.appdb.schema import build_metadata
    from services.db.engine import make_engine
    from services.db.urls import sqlite_target

    path = folder / "library.db"
    engine = make_engine(sqlite_target(path))
    try:
        build_metadata(definition()).create_all(engine)
    finally:
        engine.dispose()
    return path


def run_child(cmd: list[str], env: dict[str, str], out: Path) -> tuple[float, dict, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-800:]}")
    return wall, json.loads(out.read_text()), proc.stderr


def run_seed(
    folder: Path, count: int, seed: int, rep: int, force_library: bool, notes: list[str]
) -> tuple[Run, Path]:
    out = folder / "child.json"
    if not force_library:
        try:
            model_id = f"{MODEL_ID}-{rep}"
            path = prepare_cli(folder / "cli", model_id)
            env = child_env({"BENCH_SEED_OUT": str(out)})

            def cli(n: int) -> tuple[float, dict]:
                cmd = [
                    sys.executable,
                    "-c",
                    CLI_WRAPPER,
                    "seed",
                    model_id,
                    "--count",
                    str(n),
                    "--seed",
                    str(seed),
                    "--data-dir",
                    str(folder / "cli"),
                ]
                wall, data, _ = run_child(cmd, env, out)
                if not data["answer"]:
                    raise RuntimeError("the CLI did not call services.appdb.seed.seed")
                return wall, data

            base_wall, base = cli(0)
            run = make_run("cli", *cli(count))
            run.base_wall_s, run.base_rss_mb = base_wall, base["maxrss_kb"] / 1024
            return run, path
        except Exception as exc:  # noqa: BLE001 - fall back, and say why
            note = f"the CLI could not run ({type(exc).__name__}: {exc}); the library was used"
            if note not in notes:
                notes.append(note)
    path = prepare_library(folder)
    env = child_env({"BENCH_SEED_OUT": str(out), "BENCH_SEED_MODEL": json.dumps(BENCH_MODEL)})

    def library(n: int) -> tuple[float, dict]:
        cmd = [sys.executable, "-c", LIBRARY_CHILD, str(path), str(n), str(seed)]
        wall, data, _ = run_child(cmd, env, out)
        return wall, data

    base_wall, base = library(0)
    run = make_run("library", *library(count))
    run.base_wall_s, run.base_rss_mb = base_wall, base["maxrss_kb"] / 1024
    return run, path


def make_run(mode: str, wall: float, data: dict) -> Run:
    stats = data["stats"]
    return Run(
        mode,
        wall,
        data.get("cpu_s", 0.0),
        stats.get("total_s", 0.0),
        stats.get("faker_s", 0.0),
        stats.get("sql_s", 0.0),
        data["maxrss_kb"] / 1024,
        data["answer"],
    )


# --------------------------------------------------------------------------- raw sqlite3


def table_order() -> list[str]:
    from services.appdb.rows import entity_order
    from services.appdb.schema import join_tables

    defn = definition()
    return [*entity_order(defn), *(j.name for j in join_tables(defn))]


def read_rows(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's rows as stored, in insertion order (so references resolve in order)."""
    conn = sqlite3.connect(str(path))
    try:
        tables = {}
        for name in table_order():
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
            names = ", ".join(f'"{c}"' for c in cols)
            rows = conn.execute(f'SELECT {names} FROM "{name}" ORDER BY rowid').fetchall()
            tables[name] = (cols, rows)
        return tables
    finally:
        conn.close()


def raw_insert(folder: Path, tables: dict[str, tuple[list[str], list[tuple]]]) -> float:
    """executemany the rows into a fresh database with the same schema; seconds, commit included."""
    from services.appdb.schema import build_metadata
    from services.db.engine import make_engine
    from services.db.pragmas import apply_sqlite_pragmas
    from services.db.urls import sqlite_target

    path = folder / "raw.db"
    engine = make_engine(sqlite_target(path))
    try:
        build_metadata(definition()).create_all(engine)
    finally:
        engine.dispose()
    conn = sqlite3.connect(str(path))
    try:
        apply_sqlite_pragmas(conn.execute)
        start = time.perf_counter()
        for name, (cols, rows) in tables.items():
            marks = ", ".join("?" * len(cols))
            names = ", ".join(f'"{c}"' for c in cols)
            conn.executemany(f'INSERT INTO "{name}" ({names}) VALUES ({marks})', rows)
        conn.commit()
        seconds = time.perf_counter() - start
        for name, (_, rows) in tables.items():
            got = conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            if got != len(rows):
                raise AssertionError(f"raw sqlite3: {name} has {got} rows, expected {len(rows)}")
        return seconds
    finally:
        conn.close()


# --------------------------------------------------------------------------- output


def med(values: list[float]) -> float:
    return statistics.median(values)


def render(runs: list[Run], args, notes: list[str], loads: list[float]) -> str:
    first = runs[0]
    entity_rows = sum(n for t, n in first.rows.items() if "__" not in t)
    join_rows = sum(n for t, n in first.rows.items() if "__" in t)
    mode = (
        "python -m app seed MODEL --count N (the CLI, in a child process)"
        if all(r.mode == "cli" for r in runs)
        else "services.appdb.seed.seed in a child process (the CLI was not usable; see notes)"
    )
    lines = [
        "bench-seed: seed 5 linked entities on SQLite, then the same rows with raw sqlite3",
        f"  {mode}",
        f"  --count {args.count:,} per entity = {entity_rows:,} entity rows + {join_rows:,} "
        f"ManyToMany join rows ({first.answer.get('relationships_created', 0):,} links in all), "
        f"seed {args.seed}, {len(runs)} repeat(s), medians",
        f"  Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s), "
        f"load average {min(loads):.2f}-{max(loads):.2f} during the runs",
        "",
        f"  {'figure':<44}{'median':>12}{'min':>12}{'max':>12}",
    ]

    def row(label: str, values: list[float], unit: str) -> None:
        fmt = (
            (lambda v: f"{v:.2f} s")
            if unit == "s"
            else ((lambda v: f"{v:.0f} MB") if unit == "MB" else (lambda v: f"{v:.0f} %"))
        )
        lines.append(
            f"  {label:<44}{fmt(med(values)):>12}{fmt(min(values)):>12}{fmt(max(values)):>12}"
        )

    row("CLI end to end (spawn to exit)", [r.wall_s for r in runs], "s")
    row("  CPU time of the CLI process (user + sys)", [r.cpu_s for r in runs], "s")
    row("  the same with --count 0 (fixed cost)", [r.base_wall_s for r in runs], "s")
    row("  seed() itself (plan, generate, SQL, commit)", [r.seed_s for r in runs], "s")
    row("  SQL inside seed() (executesql)", [r.sql_s for r in runs], "s")
    row("  Faker (filling the value pools)", [r.faker_s for r in runs], "s")
    row("  Faker's share of end to end", [100 * r.faker_s / r.wall_s for r in runs], "%")
    row("  Faker's share of seed()", [100 * r.faker_s / max(r.seed_s, 1e-9) for r in runs], "%")
    row("peak RSS of the CLI process", [r.rss_mb for r in runs], "MB")
    row("  the same with --count 0 (fixed cost)", [r.base_rss_mb for r in runs], "MB")
    row("raw sqlite3 executemany, same rows", [r.raw_s for r in runs], "s")
    total = entity_rows + join_rows
    wall, raw = med([r.wall_s for r in runs]), med([r.raw_s for r in runs])
    lines += [
        "",
        f"  end to end {total / wall:,.0f} rows/s; raw sqlite3 {total / raw:,.0f} rows/s; "
        f"SQL inside seed() / raw sqlite3 = {med([r.sql_s for r in runs]) / raw:.2f}x",
        f"  target: under {TARGET_SECONDS:.0f} s end to end: "
        f"{'met' if wall < TARGET_SECONDS else 'NOT met'} ({wall:.2f} s); peak RSS under "
        f"{TARGET_RSS_MB:.0f} MB: "
        f"{'met' if med([r.rss_mb for r in runs]) < TARGET_RSS_MB else 'NOT met'}",
        "  every repeat checked: each entity has --count rows, and the raw copy the same counts",
        *(f"  note: {n}" for n in notes),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--count",
        type=int,
        default=20_000,
        help="rows per entity (20000: 100,000 over the 5 entities)",
    )
    parser.add_argument("--seed", type=int, default=1430, help="the seed (1430)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians reported (3)")
    parser.add_argument(
        "--library", action="store_true", help="call the library in the child instead of the CLI"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be positive")

    runs: list[Run] = []
    notes: list[str] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        for rep in range(args.repeat):
            folder = Path(tmp) / f"r{rep}"
            folder.mkdir()
            loads.append(os.getloadavg()[0])
            run, path = run_seed(folder, args.count, args.seed, rep, args.library, notes)
            loads.append(os.getloadavg()[0])
            tables = read_rows(path)
            run.rows = {name: len(rows) for name, (_, rows) in tables.items()}
            for name in (e["name"] for e in BENCH_MODEL["entities"]):
                if run.rows[name] != args.count:
                    raise AssertionError(f"{name}: {run.rows[name]} rows, expected {args.count}")
            run.raw_s = raw_insert(folder, tables)
            del tables
            runs.append(run)
            print(
                f"  repeat {rep + 1}/{args.repeat}: {run.mode} {run.wall_s:.2f} s end to end, "
                f"{run.rss_mb:.0f} MB peak, raw sqlite3 {run.raw_s:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    if max(loads) > (os.cpu_count() or 1) * 0.5:
        notes.append(
            "other processes kept the machine busy (see load average): times are "
            "inflated; rerun on an idle machine for the real figures"
        )
    text = render(runs, args, notes, loads)
    print(text, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"seed-{stamp}.txt"
    out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(REPO)}")
    if args.json is not None:
        write_json(args.json, runs, args, notes, loads, out)
    return 0


def write_json(
    path: Path, runs: list[Run], args, notes: list[str], loads: list[float], text_file: Path
) -> None:
    """The figures for bench/bench_all.py: medians, min and max of each, over the repeats."""

    def stats(values: list[float]) -> dict:
        return {"median": med(values), "min": min(values), "max": max(values), "values": values}

    first = runs[0]
    entity_rows = sum(n for t, n in first.rows.items() if "__" not in t)
    join_rows = sum(n for t, n in first.rows.items() if "__" in t)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "bench": "seed",
                "ok": True,
                "mode": first.mode,
                "count": args.count,
                "repeat": len(runs),
                "entity_rows": entity_rows,
                "join_rows": join_rows,
                "wall_s": stats([r.wall_s for r in runs]),
                "cpu_s": stats([r.cpu_s for r in runs]),
                "base_wall_s": stats([r.base_wall_s for r in runs]),
                "seed_s": stats([r.seed_s for r in runs]),
                "sql_s": stats([r.sql_s for r in runs]),
                "faker_s": stats([r.faker_s for r in runs]),
                "rss_mb": stats([r.rss_mb for r in runs]),
                "base_rss_mb": stats([r.base_rss_mb for r in runs]),
                "raw_s": stats([r.raw_s for r in runs]),
                "target_s": TARGET_SECONDS,
                "target_rss_mb": TARGET_RSS_MB,
                "load_average": [min(loads), max(loads)],
                "cpus": os.cpu_count(),
                "notes": notes,
                "text_file": str(text_file.relative_to(REPO)),
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    sys.exit(main())
