"""Benchmark browsing an app database: this service against Datasette on the same SQLite file.

``python -m bench.bench_browse`` (part of ``make bench``) makes a data dir with the example
model of docs/model-definitions.md ("shop-demo": customer, product, purchase), seeds it with the CLI
(``python -m app seed --count N``, 100,000 rows per entity by default), copies the app database
file with SQLite's backup API, and serves the original with ``python -m app serve`` and the copy
with Datasette (its JSON API, ``_shape=objects``, facets and suggestions off). Then, for each
query and concurrency, wrk (or the Python client of bench_api) loads one server, then the other:

* page - 50 customers with the count, filtered on one field (``tier = 'pro'``) and sorted on
  another (``email``, unique, so the order is total and the two answers comparable);
* row  - one customer by id, cycling through 1,000 ids picked at random (fixed seed).

Before loading, both answers are compared: the same ids in the same order and the same count
for the page, the same field values for a sample of rows. Figures: requests/s, p50/p99,
errors, each server's CPU time per request (what a loaded machine skews least: both servers
are single processes) and each server's RSS after the run. ``--json PATH`` writes them for
bench_all.

Then the soak (with wrk; ``--soak-seconds``, 30 by default): 100 keep-alive connections
(``--soak-connections``) mixing, in turn, GET /items/{id}, POST /items/, GET of an app row by
id and POST of an app row, for 30 s, with the service's RSS sampled every 0.2 s throughout:
requests/s, p99, errors and the highest RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.bench_api import WRK_LUA, Endpoint, Run, Server, run_python, run_wrk, wrk_script

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
API = "/api/v1"
MODEL_ID = "shop-demo"
PAGE = 50
FILTER = ("tier", "pro")
SORT = "email"
ROW_IDS = 1000
SEED = 42
READY_TIMEOUT_S = 120.0
SCRUBBED_ENV = ("DATA_DIR", "DATABASE_URL", "DATABASE_NAME", "HOST", "PORT", "AUTH_REQUIRED")
# The example model of docs/model-definitions.md, as other programs send it.
EXAMPLE_MODEL = {
    "id": MODEL_ID,
    "name": "Shop demo",
    "definition": {
        "entities": [
            {
                "name": "customer",
                "display_name": "Customer",
                "fields": [
                    {"name": "first_name", "type": "String", "required": True},
                    {"name": "email", "type": "String", "required": True, "unique": True},
                    {"name": "age", "type": "Integer"},
                    {"name": "vip", "type": "Boolean"},
                    {"name": "tier", "type": "Enum", "values": ["free", "pro"]},
                    {"name": "referred_by", "type": "Reference", "target": "customer"},
                ],
            },
            {
                "name": "product",
                "display_name": "Product",
                "fields": [
                    {"name": "title", "type": "String", "required": True},
                    {"name": "price", "type": "Float"},
                    {"name": "tags", "type": "Array"},
                    {"name": "specs", "type": "Object"},
                ],
            },
            {
                "name": "purchase",
                "display_name": "Purchase",
                "fields": [
                    {"name": "placed_at", "type": "DateTime"},
                    {"name": "quantity", "type": "Integer"},
                ],
            },
        ],
        "relationships": [
            {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
            {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
        ],
    },
}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(LOG_LEVEL="WARNING", **extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def post_json(url: str, body: dict) -> object:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


# --------------------------------------------------------------------------- the data


def prepare(work: Path, rows: int) -> tuple[Path, Path, float]:
    """A data dir with the example model seeded; the copy of its app database for Datasette."""
    data_dir = work / "data"
    service = Server("prepare", service_cmd(data_dir), work)
    service.start(child_env())
    try:
        post_json(service.url + f"{API}/models/", EXAMPLE_MODEL)
    finally:
        service.stop()
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "seed",
            MODEL_ID,
            "--count",
            str(rows),
            "--seed",
            str(SEED),
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        env=child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seed_s = time.perf_counter() - started
    original = data_dir / "apps" / f"{MODEL_ID}.db"
    copy = work / "datasette" / "shop.db"
    copy.parent.mkdir()
    source = sqlite3.connect(original)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return data_dir, copy, seed_s


def prepared(args, work: Path) -> tuple[Path, Path, float]:
    """The seeded data in ``work``: made there, or copied from ``--prepared`` (made there once).

    The soak writes rows, so a kept data set is never served itself: each run gets a copy.
    """
    keep = args.prepared
    if keep is not None and (keep / "rows").is_file():
        if int((keep / "rows").read_text()) != args.rows:
            raise SystemExit(f"bench-browse: {keep} holds another --rows; remove it first")
        print(f"bench-browse: reusing the data seeded in {keep}", flush=True)
        for name in ("data", "datasette"):
            shutil.copytree(keep / name, work / name)
        # The fast start is recorded per data-dir path: one start records it for the copy, so
        # the measured service starts as it does on its own seeded folder (no SQLAlchemy).
        recorder = Server("record", service_cmd(work / "data"), work)
        recorder.start(child_env())
        recorder.stop()
        return work / "data", work / "datasette" / "shop.db", float((keep / "seed_s").read_text())
    print(f"bench-browse: seeding {args.rows:,} rows per entity", flush=True)
    data_dir, copy, seed_s = prepare(work, args.rows)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for name in ("data", "datasette"):
            shutil.copytree(work / name, keep / name, dirs_exist_ok=True)
        (keep / "seed_s").write_text(f"{seed_s}\n")
        (keep / "rows").write_text(f"{args.rows}\n")
    return data_dir, copy, seed_s


def stored_ids(path: Path, n: int) -> list[str]:
    """``n`` customer ids as stored in the file, picked at random with a fixed seed."""
    connection = sqlite3.connect(path)
    try:
        ids = [r[0] for r in connection.execute("SELECT id FROM customer ORDER BY id")]
    finally:
        connection.close()
    return random.Random(SEED).sample(ids, min(n, len(ids)))


def wire_id(stored: str) -> str:
    """The id as the service's JSON spells it (a dashed UUID) from its stored form."""
    return str(uuid.UUID(str(stored)))


# --------------------------------------------------------------------------- the servers


def service_cmd(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "app", "serve", "--port", "0", "--data-dir", str(data_dir)]


class Datasette:
    """``datasette serve`` on a port chosen first; ready when /-/versions.json answers."""

    def __init__(self, db: Path, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = db
        self.err_path = work / "datasette.stderr"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "datasette",
            "serve",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # The JSON API alone: no facets, no facet suggestions (as the issue asks).
            "--setting",
            "suggest_facets",
            "off",
            "--setting",
            "default_facet_size",
            "0",
            "--setting",
            "max_returned_rows",
            "1000",
        ]
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.db.parent,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"datasette exited: {self.err_path.read_text()[-2000:]}")
            try:
                get_json(self.url + "/-/versions.json")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("datasette not ready")

    @property
    def host_port(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time the server has used (user + system): per request, a figure that a loaded
    machine skews far less than requests/s."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def settle(pid: int, idle_cores: float = 0.1, limit_s: float = 10.0) -> None:
    """Wait until the server is idle (or ``limit_s`` passed): after a run at 64 connections it
    may still be answering what wrk abandoned at its stop, which would load the next run."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = cpu_seconds(pid)
        time.sleep(0.2)
        if (cpu_seconds(pid) - before) / 0.2 < idle_cores:
            return


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


# --------------------------------------------------------------------------- the queries


def service_paths(ids: list[str]) -> dict[str, tuple[str, ...]]:
    base = f"{API}/models/{MODEL_ID}/app-database/entities/customer"
    return {
        "page": (f"{base}?limit={PAGE}&offset=0&sort={SORT}&{FILTER[0]}={FILTER[1]}",),
        "row": tuple(f"{base}/{wire_id(i)}" for i in ids),
    }


def datasette_paths(ids: list[str]) -> dict[str, tuple[str, ...]]:
    extra = "_shape=objects&_nofacet=1&_nosuggest=1"
    return {
        "page": (f"/shop/customer.json?{FILTER[0]}={FILTER[1]}&_sort={SORT}&_size={PAGE}&{extra}",),
        "row": tuple(f"/shop/customer/{i}.json?{extra}" for i in ids),
    }


def check_answers(service_url: str, datasette_url: str, ids: list[str]) -> list[str]:
    """Differences between the two servers' answers (empty: the same rows)."""
    problems = []
    ours = get_json(service_url + service_paths(ids)["page"][0])
    theirs = get_json(datasette_url + datasette_paths(ids)["page"][0])
    our_ids = [row["id"] for row in ours["data"]]
    their_ids = [wire_id(row["id"]) for row in theirs["rows"]]
    if len(our_ids) != PAGE:
        problems.append(f"page: the service answered {len(our_ids)} rows, not {PAGE}")
    if our_ids != their_ids:
        problems.append("page: the two answers hold different rows (or another order)")
    count = theirs.get("filtered_table_rows_count")
    if ours["count"] != count:
        problems.append(f"page: count {ours['count']} vs Datasette's {count}")
    for stored in ids[:20]:
        row = get_json(service_url + f"{service_paths([stored])['row'][0]}")
        other = get_json(datasette_url + datasette_paths([stored])["row"][0])["rows"][0]
        same = (
            row["id"] == wire_id(other["id"])
            and row["email"] == other["email"]
            and row["first_name"] == other["first_name"]
            and row["age"] == other["age"]
            and row["tier"] == other["tier"]
        )
        if not same:
            problems.append(f"row {stored}: {row} vs {other}")
            break
    return problems


# --------------------------------------------------------------------------- loading


@dataclass
class Cell:
    runs: list[Run] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # server CPU per request, each run

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.non2xx + r.sock_errors for r in self.runs)


def load(args, work: Path, ep: Endpoint, url: str, host_port, conns: int) -> Run:
    if args.generator == "wrk":
        return run_wrk(
            args.wrk, args.wrk_threads, ep, wrk_script(ep, work), url, conns, args.duration
        )
    return run_python(ep, host_port, conns, args.duration)


def measure(args, work: Path, servers: dict, paths: dict) -> dict:
    cells: dict[tuple[str, str, int], Cell] = {}
    for rep in range(args.repeat):
        for query in args.queries:
            for conns in args.connections:
                for name, server in servers.items():
                    ep = Endpoint(f"{name}_{query}", query, query, name, "GET", paths[name][query])
                    cpu_before = cpu_seconds(server.proc.pid)
                    run = load(args, work, ep, server.url, server.host_port, conns)
                    cpu = cpu_seconds(server.proc.pid) - cpu_before
                    settle(server.proc.pid)
                    cell = cells.setdefault((name, query, conns), Cell())
                    cell.runs.append(run)
                    cell.cpu_ms.append(1000 * cpu / max(run.requests, 1))
                    print(
                        f"bench-browse: rep {rep + 1} {query:<4} c={conns:<3} {name:<9} "
                        f"{run.rps:8.1f} req/s p99 {run.p99_ms:7.1f} ms "
                        f"CPU {cell.cpu_ms[-1]:.2f} ms/req errors {run.non2xx + run.sock_errors}",
                        flush=True,
                    )
    return cells


# --------------------------------------------------------------------------- soak

SOAK_REQUESTS = r"""
local item_paths = { @ITEMS@ }
local row_paths = { @ROWS@ }
local json = { ["Content-Type"] = "application/json" }
local turn = 0

function request()
  turn = turn + 1
  local k = turn % 4
  local pick = (turn * 7919 + offset) % 1000
  if k == 0 then
    return wrk.format("GET", item_paths[pick % #item_paths + 1])
  elseif k == 1 then
    return wrk.format("POST", "@ITEMS_PATH@", json, '{"title": "soak"}')
  elseif k == 2 then
    return wrk.format("GET", row_paths[pick % #row_paths + 1])
  end
  local body = string.format(
    '{"first_name": "soak", "email": "soak-%d-%d@example.com"}', offset, turn)
  return wrk.format("POST", "@ROWS_PATH@", json, body)
end
"""


def soak_script(work: Path, item_ids: list[str], row_ids: list[str]) -> Path:
    """bench_api's wrk script (status counts, figures) with a request() mixing four requests."""
    rows_path = f"{API}/models/{MODEL_ID}/app-database/entities/customer"
    requests = (
        SOAK_REQUESTS.replace("@ITEMS@", ", ".join(f'"{API}/items/{i}"' for i in item_ids))
        .replace("@ROWS@", ", ".join(f'"{rows_path}/{wire_id(i)}"' for i in row_ids))
        .replace("@ITEMS_PATH@", f"{API}/items/")
        .replace("@ROWS_PATH@", rows_path)
    )
    text = (
        WRK_LUA.replace("@METHOD@", "GET")
        .replace("@BODY@", "")
        .replace("@PATHS@", '"/"')
        .replace("@REQUEST@", requests)
    )
    path = work / "soak.lua"
    path.write_text(text, encoding="utf-8")
    return path


def soak(args, work: Path, service: Server, row_ids: list[str]) -> dict:
    """The mixed load at ``--soak-connections``, RSS sampled throughout."""
    item_ids = [
        post_json(service.url + f"{API}/items/", {"title": f"soak {n}"})["id"] for n in range(200)
    ]
    script = soak_script(work, item_ids, row_ids)
    process = psutil.Process(service.proc.pid)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            samples.append(process.memory_info().rss / 1e6)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ep = Endpoint("soak", "soak", "mixed", "service", "GET", ("/",))
    try:
        run = run_wrk(
            args.wrk,
            args.wrk_threads,
            ep,
            script,
            service.url,
            args.soak_connections,
            args.soak_seconds,
        )
    finally:
        stop.set()
        sampler.join()
    return {
        "connections": args.soak_connections,
        "seconds": args.soak_seconds,
        "rps": run.rps,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "max_ms": run.max_ms,
        "requests": run.requests,
        "errors": run.non2xx + run.sock_errors,
        "sample": run.sample,
        "rss_max_mb": max(samples, default=0.0),
        "rss_samples": len(samples),
    }


# --------------------------------------------------------------------------- report


def render(args, cells: dict, info: dict) -> str:
    lines = [
        "bench-browse: browsing an app database, this service vs Datasette on a copy of its file",
        f"  {info['rows']:,} rows per entity of the example model (seeded in "
        f"{info['seed_s']:.1f} s); page = {PAGE} customers with the count, {FILTER[0]} = "
        f"{FILTER[1]!r}, sorted by {SORT}; row = one customer by id ({ROW_IDS} ids cycled)",
        f"  Datasette {info['datasette_version']} (JSON API, _shape=objects, no facets or "
        f"suggestions); load generator {info['generator']}; {args.duration} s x "
        f"{args.repeat} repeat(s), medians; load average {info['load'][0]:.2f}/"
        f"{info['load'][1]:.2f}",
        "  same rows: "
        + (
            "yes (page ids, order and count; 20 rows field by field)"
            if not info["problems"]
            else "NO: " + "; ".join(info["problems"])
        ),
        "",
        f"  {'query':<6} {'conns':>5} {'service req/s':>14} {'Datasette req/s':>16} "
        f"{'ratio':>6} {'service p99':>12} {'Datasette p99':>14} {'errors':>7} "
        f"{'CPU ms/req (service/Datasette)':>31}",
    ]
    for query in args.queries:
        for conns in args.connections:
            ours = cells[("service", query, conns)]
            theirs = cells[("datasette", query, conns)]
            ratio = ours.median("rps") / theirs.median("rps") if theirs.median("rps") else 0
            lines.append(
                f"  {query:<6} {conns:>5} {ours.median('rps'):>14.1f} "
                f"{theirs.median('rps'):>16.1f} {ratio:>5.2f}x {ours.median('p99_ms'):>10.1f}ms "
                f"{theirs.median('p99_ms'):>12.1f}ms {ours.errors:>3}/{theirs.errors:<3} "
                f"{statistics.median(ours.cpu_ms):>12.2f} / {statistics.median(theirs.cpu_ms):.2f}"
                f" ({statistics.median(theirs.cpu_ms) / statistics.median(ours.cpu_ms):.2f}x)"
            )
    lines.append("")
    lines.append(
        f"  RSS after the runs: service {info['rss']['service']:.0f} MB, "
        f"Datasette {info['rss']['datasette']:.0f} MB"
    )
    soaked = info.get("soak")
    if soaked:
        lines.append(
            f"  soak: {soaked['connections']} keep-alive connections, {soaked['seconds']} s, "
            "GET and POST of items and app rows in turn: "
            f"{soaked['rps']:.0f} req/s, p99 {soaked['p99_ms']:.1f} ms, "
            f"{soaked['errors']} error(s), highest RSS {soaked['rss_max_mb']:.0f} MB "
            f"({soaked['rss_samples']} samples)"
            + (f"; first error: {soaked['sample']}" if soaked["sample"] else "")
        )
    return "\n".join(lines)


def figures(args, cells: dict, info: dict) -> dict:
    return {
        "bench": "browse",
        "ok": not info["problems"]
        and not any(c.errors for c in cells.values())
        and not (info.get("soak") or {}).get("errors"),
        **info,
        "connections": args.connections,
        "cells": [
            {
                "server": name,
                "query": query,
                "conns": conns,
                "rps": cell.median("rps"),
                "p50_ms": cell.median("p50_ms"),
                "p99_ms": cell.median("p99_ms"),
                "cpu_ms_per_request": statistics.median(cell.cpu_ms),
                "errors": cell.errors,
            }
            for (name, query, conns), cell in cells.items()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_browse",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per entity (100,000)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per cell (3)")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1, 16, 64],
        help="concurrent connections, comma-separated (1,16,64)",
    )
    parser.add_argument(
        "--queries",
        type=lambda text: text.split(","),
        default=["page", "row"],
        help="which queries to load, comma-separated (page,row)",
    )
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--soak-seconds", type=int, default=30, help="0: no soak (30)")
    parser.add_argument("--soak-connections", type=int, default=100)
    parser.add_argument(
        "--prepared",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the seeded data in DIR and reuse it on the next run (a copy is served)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    args = parser.parse_args(argv)
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which(args.wrk) else "python"

    from datasette.version import __version__ as datasette_version

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-browse-") as tmp:
        work = Path(tmp)
        data_dir, copy, seed_s = prepared(args, work)
        ids = stored_ids(copy, ROW_IDS)
        service = Server("service", service_cmd(data_dir), work)
        datasette = Datasette(copy, work)
        try:
            service.start(child_env())
            datasette.start()
            problems = check_answers(service.url, datasette.url, ids)
            paths = {"service": service_paths(ids), "datasette": datasette_paths(ids)}
            cells = measure(args, work, {"service": service, "datasette": datasette}, paths)
            rss = {"service": rss_mb(service.proc.pid), "datasette": rss_mb(datasette.proc.pid)}
            datasette.stop()
            soaked = None
            if args.soak_seconds and args.generator == "wrk":
                print(f"bench-browse: soak, {args.soak_connections} connections", flush=True)
                soaked = soak(args, work, service, ids)
        finally:
            service.stop()
            datasette.stop()
    info = {
        "rows": args.rows,
        "seed_s": seed_s,
        "datasette_version": datasette_version,
        "generator": args.generator,
        "load": (load_before, os.getloadavg()[0]),
        "problems": problems,
        "rss": rss,
        "soak": soaked,
    }
    text = render(args, cells, info)
    print()
    print(text)
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS_DIR / f"browse-{stamp}.txt"
        out.write_text(text + "\n", encoding="utf-8")
        print(f"\nwritten to {out.relative_to(REPO)}")
    result = figures(args, cells, info)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
