"""Benchmark the HTTP API under waitress against its peer and its ceilings, side by side.

Starts ``python -m app serve`` on a fresh temporary data dir (SQLite), the peer ``python -m
bench.peer serve`` (FastAPI + SQLModel under uvicorn, the template's stack, on its own fresh
SQLite file) and ``python -m bench.const_app`` (a bare Flask+waitress constant endpoint with the
service's thread count), seeds the same number of items into the service and the peer through
their APIs, checks that both answer in the same shape over the same schema, then drives ``GET
/items/{id}``, ``GET /items/?limit=50`` and ``POST /items/`` on both, and the constant endpoint,
at each concurrency with wrk (or, when wrk is missing, a small threaded Python client), with the
service and the peer interleaved run by run. The 50-row page also gets a raw ceiling: the same
page read with raw sqlite3 from the service's database file and encoded to the same JSON bytes in
one thread of this process, in a loop (pages/s stand for requests/s).

It prints one table of medians: requests/s, p50 and p99 latency, errors, and the ratios to the
peer and to the ceiling at the same concurrency. The table goes to ``bench/results/api-<UTC
stamp>.txt``; ``--json PATH`` also writes the figures as JSON (for bench/bench_all.py).

Every response is counted: non-2xx statuses and socket errors are reported per cell, and after
each POST run the item count must have risen by the POSTs the generator saw succeed. Any error
(or a peer whose schema or answers differ in shape from the service's) makes the exit status 1,
after the table is printed, so a run cannot silently measure errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.const_app import PATH as CONST_PATH
from bench.const_app import RAW_PAGE_PATH, serve_default_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
API = "/api/v1"
# Environment variables that would point the service elsewhere than the fresh SQLite file or
# change what a request does; the children run without them.
SCRUBBED_ENV = (
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_NAME",
    "HOST",
    "PORT",
    "AUTH_REQUIRED",
    "LOG_LEVEL",
    "LAUNCH_TOKEN",
)
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
WRK_TIMEOUT = "10s"  # wrk's default of 2 s would turn slow responses into "timeout" errors
POST_BODY = json.dumps({"title": "bench post", "description": "written by the load generator"})
OTHER_LOAD_CORES = 0.25  # runs where other processes used more CPU than this are flagged
P99_SPIKE = 3.0  # a repeat whose p99 exceeds the median p99 by this factor is listed as a spike
PAGE = 50  # rows in the page the list endpoint and its raw ceiling read
SERVICE_DB = "app.db"
PEER_DB = "peer.db"  # bench/peer/__main__.py's file name in its data dir
COMPARED_TABLES = ("user", "item")


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    key: str  # unique per endpoint and server
    kind: str  # "const", "get_id", "list" or "post": what is compared across servers
    label: str
    server: str  # "const", "service" or "peer"
    method: str
    paths: tuple[str, ...]  # one, or several cycled through (each connection its own offset)
    body: str | None = None

    @property
    def writes(self) -> bool:
        return self.method == "POST"


KINDS = {
    "const": f"GET {CONST_PATH}",
    "get_id": "GET /items/{id}",
    "list": f"GET /items/?limit={PAGE}",
    "post": "POST /items/",
}


def endpoints(ids: list[str], peer_ids: list[str] | None = None) -> list[Endpoint]:
    """The constant endpoint, then each item endpoint on the service and (with ids) the peer."""
    eps = [Endpoint("const", "const", KINDS["const"], "const", "GET", (CONST_PATH,))]
    # The same page read with raw sqlite3 behind the bare Flask+waitress app: the list's
    # ceiling at each concurrency (it takes turns with the service's and the peer's list).
    eps.append(
        Endpoint("raw_list", "list", f"GET {RAW_PAGE_PATH}", "const", "GET", (RAW_PAGE_PATH,))
    )
    for kind in ("get_id", "list", "post"):
        for server, prefix, some in (("service", "", ids), ("peer", "peer_", peer_ids)):
            if some is None:
                continue
            if kind == "get_id":
                paths, method, body = tuple(f"{API}/items/{i}" for i in some), "GET", None
            elif kind == "list":
                paths, method, body = (f"{API}/items/?skip=0&limit={PAGE}",), "GET", None
            else:
                paths, method, body = (f"{API}/items/",), "POST", POST_BODY
            eps.append(Endpoint(prefix + kind, kind, KINDS[kind], server, method, paths, body))
    return eps


# --------------------------------------------------------------------------- servers


class Server:
    """A child server that prints one JSON ready line; stopped with SIGTERM, then waited for."""

    def __init__(self, name: str, cmd: list[str], folder: Path):
        self.name = name
        self.cmd = cmd
        self.out_path = folder / f"{name}.stdout"
        self.err_path = folder / f"{name}.stderr"
        self.proc: subprocess.Popen | None = None
        self.ready: dict = {}
        self.exit_note = ""

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def host_port(self) -> tuple[str, int]:
        host = self.url.split("://", 1)[1].rsplit(":", 1)[0]
        return host, int(self.ready["port"])

    def start(self, env: dict[str, str]) -> None:
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # Own session: a Ctrl-C in the terminal reaches the benchmark (and wrk), which then
            # stops the idle servers with SIGTERM, instead of killing them mid-request.
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.out_path.read_text(errors="replace").splitlines():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("event") == "ready":
                    self.ready = msg
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.stderr_tail()
                )
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n" + self.stderr_tail()
        )

    def stderr_size(self) -> int:
        try:
            return self.err_path.stat().st_size
        except FileNotFoundError:
            return 0

    def stderr_since(self, offset: int) -> list[str]:
        try:
            with open(self.err_path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def stderr_tail(self, n: int = 20) -> str:
        return "\n".join(self.stderr_since(0)[-n:])

    def stop(self) -> None:
        proc = self.proc
        if proc is None or self.exit_note:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.exit_note = (
                    f"{self.name}: did not stop {STOP_TIMEOUT_S:.0f} s after SIGTERM; killed"
                )
                return
            self.exit_note = f"{self.name}: stopped on SIGTERM, exit {proc.returncode}"
        else:
            self.exit_note = f"{self.name}: had already exited with {proc.returncode}"


# --------------------------------------------------------------------------- other load


class CpuMeter:
    """CPU the rest of the machine used during a run: all busy time minus this benchmark's.

    Ours is both servers (/proc/PID/stat), the load generator (wrk is a reaped child, so it is in
    RUSAGE_CHILDREN; the Python client is this process) and this process. Linux only; elsewhere
    (or on any read error) it reports nothing.
    """

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _snapshot(self) -> tuple[float, float, float] | None:
        import resource

        try:
            with open("/proc/stat") as fh:
                f = [int(x) for x in fh.readline().split()[1:9]]
            busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / self.tick
            ours = 0.0
            for server in self.servers:
                with open(f"/proc/{server.proc.pid}/stat") as fh:
                    g = fh.read().rsplit(")", 1)[1].split()
                ours += (int(g[11]) + int(g[12])) / self.tick
        except (OSError, ValueError, IndexError, AttributeError):
            return None
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            r = resource.getrusage(who)
            ours += r.ru_utime + r.ru_stime
        return time.monotonic(), busy, ours

    def start(self):
        return self._snapshot()

    def settle(self, server: Server, idle_cores: float = 0.1, limit_s: float = 10.0) -> float:
        """Wait until ``server`` is idle (under ``idle_cores`` over 0.2 s) or ``limit_s`` passed;
        return the seconds waited. After a run at 100 connections a server may still be working
        through what the generator abandoned at its stop, and that would load the next run."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            try:
                before = self._process_seconds(server)
                time.sleep(0.2)
                if (self._process_seconds(server) - before) / 0.2 < idle_cores:
                    break
            except (OSError, ValueError, IndexError, AttributeError):
                break
        return time.monotonic() - started

    def _process_seconds(self, server: Server) -> float:
        with open(f"/proc/{server.proc.pid}/stat") as fh:
            g = fh.read().rsplit(")", 1)[1].split()
        return (int(g[11]) + int(g[12])) / self.tick

    def other_cores(self, start) -> float | None:
        """Cores' worth of CPU used by other processes since ``start``."""
        end = self._snapshot()
        if start is None or end is None or end[0] <= start[0]:
            return None
        return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]))


# --------------------------------------------------------------------------- small HTTP client


def call(
    host_port: tuple[str, int],
    method: str,
    path: str,
    body: str | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(*host_port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


def item_count(host_port: tuple[str, int]) -> int:
    status, data = call(host_port, "GET", f"{API}/items/?skip=0&limit=1")
    if status != 200:
        raise RuntimeError(f"GET {API}/items/?limit=1 answered {status}: {data[:300]!r}")
    return int(json.loads(data)["count"])


def settled_count(host_port: tuple[str, int], timeout: float = 10.0) -> int:
    """The item count once two reads 0.25 s apart agree (requests still in flight have landed)."""
    last = item_count(host_port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = item_count(host_port)
        if now == last:
            return now
        last = now
    return last


def seed(host_port: tuple[str, int], n: int, who: str = "service") -> list[str]:
    """POST ``n`` items on one keep-alive connection; check them back; return their ids."""
    before = item_count(host_port)
    conn = http.client.HTTPConnection(*host_port, timeout=30)
    ids = []
    try:
        for i in range(n):
            body = json.dumps({"title": f"seed item {i}", "description": f"seeded item {i}"})
            status, data = call(host_port, "POST", f"{API}/items/", body, conn)
            if status != 200:
                raise RuntimeError(
                    f"seeding the {who}: POST {API}/items/ answered {status}: {data[:300]!r}"
                )
            ids.append(json.loads(data)["id"])
    finally:
        conn.close()
    after = item_count(host_port)
    if after - before != n:
        raise RuntimeError(f"seeding the {who}: item count went {before} -> {after}, expected +{n}")
    status, data = call(host_port, "GET", f"{API}/items/{ids[n // 2]}")
    if status != 200 or json.loads(data).get("id") != ids[n // 2]:
        raise RuntimeError(f"seeding the {who}: GET one item answered {status}: {data[:300]!r}")
    status, data = call(host_port, "GET", f"{API}/items/?skip=0&limit={PAGE}")
    page = json.loads(data) if status == 200 else {}
    if len(page.get("data", ())) != min(PAGE, after) or page.get("count") != after:
        raise RuntimeError(
            f"seeding the {who}: GET /items/?limit={PAGE} answered {status}: {data[:300]!r}"
        )
    return ids


# --------------------------------------------------------------------------- the peer is fair

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z\Z")


def shape(value) -> object:
    """A JSON value's shape: keys in order, and each leaf's kind (uuid, UTC stamp, str, ...)."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str):
        return "uuid" if UUID_RE.match(value) else "utc" if STAMP_RE.match(value) else "str"
    return type(value).__name__


def compare_answers(
    service: tuple[str, int], service_id: str, peer: tuple[str, int], peer_id: str
) -> str:
    """Both servers answer the benchmarked GETs and POST in the same shape, byte for byte."""
    probes = [
        ("GET", f"{API}/items/{{id}}", None),
        ("GET", f"{API}/items/?skip=0&limit=2", None),
        ("POST", f"{API}/items/", POST_BODY),
    ]
    for method, path, body in probes:
        shapes = []
        for host_port, some_id in ((service, service_id), (peer, peer_id)):
            status, data = call(host_port, method, path.replace("{id}", some_id), body)
            if status != 200:
                raise RuntimeError(
                    f"shape check: {method} {path} answered {status}: {data[:300]!r}"
                )
            value = json.loads(data)
            compact = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
            shapes.append(shape(value) if data == compact else ("not compact JSON", data[:120]))
        if shapes[0] != shapes[1]:
            raise RuntimeError(
                f"shape check: {method} {path}: the service answers {shapes[0]}, "
                f"the peer {shapes[1]}"
            )
    return (
        "the service and the peer answer GET /items/{id}, GET /items/ and POST /items/ "
        "with the same keys in the same order, the same value formats and compact JSON"
    )


def table_schema(path: Path, table: str) -> dict[str, set]:
    """Columns, indexes and foreign keys of ``table`` as SQLite reports them (order aside)."""
    conn = sqlite3.connect(str(path))
    try:
        columns = {
            (r[1], r[2].upper(), r[3], r[4], r[5])
            for r in conn.execute(f'PRAGMA table_info("{table}")')
        }
        indexes = set()
        for _, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{table}")'):
            cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")'))
            # Automatic indexes (primary key, UNIQUE constraint) are named by SQLite: by origin.
            indexes.add((origin if name.startswith("sqlite_autoindex") else name, unique, cols))
        fks = {
            (r[2], r[3], r[4], r[6]) for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')
        }
        return {"columns": columns, "indexes": indexes, "foreign keys": fks}
    finally:
        conn.close()


def compare_schemas(service_db: Path, peer_db: Path) -> list[str]:
    """Differences between the service's and the peer's ``user`` and ``item`` tables."""
    diffs = []
    for table in COMPARED_TABLES:
        ours, theirs = table_schema(service_db, table), table_schema(peer_db, table)
        for what in ours:
            if ours[what] != theirs[what]:
                diffs.append(
                    f"{table} {what}: only the service has "
                    f"{sorted(ours[what] - theirs[what])}, only the peer has "
                    f"{sorted(theirs[what] - ours[what])}"
                )
    return diffs


# --------------------------------------------------------------------------- raw sqlite3 ceiling

RAW_COUNT = "SELECT count(*) FROM item"
RAW_PAGE = (
    "SELECT title, description, id, owner_id, created_at FROM item "
    "ORDER BY created_at DESC, id LIMIT ? OFFSET 0"
)


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _stamp(stored: str) -> str:
    # Stored "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC) -> RFC 3339 as the API writes it.
    text = stored.replace(" ", "T", 1)
    return (text[:-7] if text.endswith(".000000") else text) + "Z"


def raw_page(conn: sqlite3.Connection) -> bytes:
    """The list endpoint's answer for the first page, read and encoded with no framework."""
    count = conn.execute(RAW_COUNT).fetchone()[0]
    data = [
        {
            "title": t,
            "description": d,
            "id": _uuid(i),
            "owner_id": _uuid(o),
            "created_at": _stamp(c),
        }
        for t, d, i, o, c in conn.execute(RAW_PAGE, (PAGE,))
    ]
    return json.dumps(
        {"data": data, "count": count}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def raw_page_loop(path: Path, seconds: float) -> tuple[int, float, list[float]]:
    """Pages read and encoded in a loop for ``seconds``: (pages, elapsed, latencies in s)."""
    conn = raw_connect(path)
    lat = []
    try:
        start = now = time.perf_counter()
        deadline = start + seconds
        while now < deadline:
            raw_page(conn)
            t = time.perf_counter()
            lat.append(t - now)
            now = t
        return len(lat), now - start, lat
    finally:
        conn.close()


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    endpoint: str
    conns: int
    rep: int  # 0 = warm-up
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int  # completed responses, any status
    non2xx: int
    statuses: Counter = field(default_factory=Counter)  # non-2xx status -> count
    sock: Counter = field(default_factory=Counter)  # socket error kind -> count
    sample: str = ""  # first non-2xx body (or socket error) seen
    check: str = ""  # POST count check, one line
    check_ok: bool = True
    stderr_lines: list[str] = field(default_factory=list)
    other_cores: float | None = None  # CPU other processes used during the run, in cores

    @property
    def sock_errors(self) -> int:
        return sum(self.sock.values())


# --------------------------------------------------------------------------- wrk

WRK_LUA = r"""
-- written by bench/bench_api.py: counts non-2xx statuses per thread and prints parseable
-- figures (latency in microseconds) from done().
wrk.method = "@METHOD@"
@BODY@
local paths = { @PATHS@ }
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  statuses = {}
  sample = ""
  reqs = {}
  for k, p in ipairs(paths) do reqs[k] = wrk.format(nil, p) end
  -- each thread starts at its own place in the path list
  n = (offset * 7919) % #reqs
end
@REQUEST@
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
    if sample == "" then sample = tostring(status) .. " " .. string.sub(body or "", 1, 300) end
  end
end

function done(summary, latency, requests)
  local non = 0
  local codes = {}
  local first = ""
  for _, t in ipairs(threads) do
    non = non + t:get("non2xx")
    for k, v in pairs(t:get("statuses")) do codes[k] = (codes[k] or 0) + v end
    if first == "" then first = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format("BENCH requests %d\n", summary.requests))
  io.write(string.format("BENCH duration_us %d\n", summary.duration))
  io.write(string.format("BENCH p50_us %d\n", latency:percentile(50)))
  io.write(string.format("BENCH p99_us %d\n", latency:percentile(99)))
  io.write(string.format("BENCH max_us %d\n", latency.max))
  io.write(string.format("BENCH non2xx %d\n", non))
  io.write(string.format("BENCH sock_connect %d\n", e.connect))
  io.write(string.format("BENCH sock_read %d\n", e.read))
  io.write(string.format("BENCH sock_write %d\n", e.write))
  io.write(string.format("BENCH sock_timeout %d\n", e.timeout))
  for k, v in pairs(codes) do io.write(string.format("BENCH status_%s %d\n", k, v)) end
  io.write("BENCH sample " .. string.gsub(first, "[\r\n]", " ") .. "\n")
end
"""

WRK_REQUEST_FN = """
function request()
  n = n % #reqs + 1
  return reqs[n]
end
"""


def wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk (version unknown)"


def wrk_script(ep: Endpoint, folder: Path) -> Path:
    body = ""
    if ep.body is not None:
        body = f'wrk.body = [==[{ep.body}]==]\nwrk.headers["Content-Type"] = "application/json"'
    text = (
        WRK_LUA.replace("@METHOD@", ep.method)
        .replace("@BODY@", body)
        .replace("@PATHS@", ", ".join(f'"{p}"' for p in ep.paths))
        # A request() function makes wrk build each request in Lua: only when paths vary.
        .replace("@REQUEST@", WRK_REQUEST_FN if len(ep.paths) > 1 else "")
    )
    path = folder / f"{ep.key}.lua"
    path.write_text(text, encoding="utf-8")
    return path


def run_wrk(
    wrk: str, wrk_threads: int, ep: Endpoint, script: Path, url: str, conns: int, duration: int
) -> Run:
    cmd = [
        wrk,
        f"-t{min(wrk_threads, conns)}",
        f"-c{conns}",
        f"-d{duration}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(script),
        url + ep.paths[0],
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    figures: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            _, key, *rest = line.split(" ", 2)
            figures[key] = rest[0] if rest else ""
    if proc.returncode != 0 or "requests" not in figures:
        raise RuntimeError(
            f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    requests = int(figures["requests"])
    seconds = int(figures["duration_us"]) / 1e6
    statuses = Counter(
        {k.removeprefix("status_"): int(v) for k, v in figures.items() if k.startswith("status_")}
    )
    sock = Counter(
        {
            k.removeprefix("sock_"): int(v)
            for k, v in figures.items()
            if k.startswith("sock_") and int(v)
        }
    )
    return Run(
        endpoint=ep.key,
        conns=conns,
        rep=-1,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=int(figures["p50_us"]) / 1000,
        p99_ms=int(figures["p99_us"]) / 1000,
        max_ms=int(figures["max_us"]) / 1000,
        requests=requests,
        non2xx=int(figures["non2xx"]),
        statuses=statuses,
        sock=sock,
        sample=figures.get("sample", "").strip(),
    )


# --------------------------------------------------------------------------- Python fallback


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_python(ep: Endpoint, host_port: tuple[str, int], conns: int, duration: float) -> Run:
    """``conns`` threads, each with one keep-alive http.client connection, for ``duration`` s.

    Each thread finishes the request it has started when the time is up, so nothing is left in
    flight: every request the server completed is counted here.
    """
    headers = {"Content-Type": "application/json"} if ep.body is not None else {}
    body = ep.body.encode() if ep.body is not None else None
    start_gate = threading.Barrier(conns + 1)
    deadline = [0.0]
    results: list[dict] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        lat: list[float] = []
        statuses: Counter = Counter()
        sock: Counter = Counter()
        sample = ""
        n = (index * 7919) % len(ep.paths)
        conn = http.client.HTTPConnection(*host_port, timeout=30)
        try:
            conn.connect()
        except OSError as exc:
            sock["connect"] += 1
            sample = f"connect: {exc}"
        start_gate.wait()
        end = time.perf_counter()
        while time.perf_counter() < deadline[0]:
            path = ep.paths[n]
            n = (n + 1) % len(ep.paths)
            t0 = time.perf_counter()
            try:
                conn.request(ep.method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else "read"
                sock[kind] += 1
                sample = sample or f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection(*host_port, timeout=30)
                continue
            end = time.perf_counter()
            lat.append(end - t0)
            if not 200 <= resp.status <= 299:
                statuses[str(resp.status)] += 1
                sample = sample or f"{resp.status} " + " ".join(
                    data[:300].decode(errors="replace").split()
                )
        conn.close()
        with lock:
            results.append(
                {"lat": lat, "statuses": statuses, "sock": sock, "sample": sample, "end": end}
            )

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(conns)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + duration  # set before the gate opens; the workers read it after
    start_gate.wait()
    for t in threads:
        t.join()
    latencies = sorted(x for r in results for x in r["lat"])
    statuses = sum((r["statuses"] for r in results), Counter())
    sock = sum((r["sock"] for r in results), Counter())
    elapsed = max(r["end"] for r in results) - start if results else duration
    return Run(
        endpoint=ep.key,
        conns=conns,
        rep=-1,
        rps=len(latencies) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        requests=len(latencies),
        non2xx=sum(statuses.values()),
        statuses=statuses,
        sock=sock,
        sample=next((r["sample"] for r in results if r["sample"]), ""),
    )


# --------------------------------------------------------------------------- the benchmark


NOISE = re.compile(r"Task queue depth is \d+")
SERVER_ERROR = re.compile(r" (ERROR|CRITICAL) |Traceback|database is locked")


def classify_stderr(lines: list[str]) -> tuple[int, list[str]]:
    """(waitress queue-depth warnings, every other line that is not routine INFO)."""
    queue = sum(1 for line in lines if NOISE.search(line))
    other = [
        line for line in lines if not NOISE.search(line) and " INFO " not in line and line.strip()
    ]
    return queue, other


class Bench:
    def __init__(self, args, folder: Path, servers: dict[str, Server]):
        self.args = args
        self.folder = folder
        self.servers = servers
        self.runs: list[Run] = []
        self.raw_runs: list[Run] = []
        self.scripts: dict[str, Path] = {}
        self.done = 0
        self.total = 0
        self.cpu = CpuMeter(list(servers.values()))

    def one(self, ep: Endpoint, conns: int, rep: int, duration: int) -> Run:
        server = self.servers[ep.server]
        offset = server.stderr_size()
        if ep.writes:
            before = settled_count(server.host_port)
        cpu = self.cpu.start()
        if self.args.generator == "wrk":
            if ep.key not in self.scripts:
                self.scripts[ep.key] = wrk_script(ep, self.folder)
            run = run_wrk(
                self.args.wrk,
                self.args.wrk_threads,
                ep,
                self.scripts[ep.key],
                server.url,
                conns,
                duration,
            )
        else:
            run = run_python(ep, server.host_port, conns, duration)
        run.other_cores = self.cpu.other_cores(cpu)
        run.rep = rep
        if ep.writes:
            self.check_posts(run, server, before)
        time.sleep(0.3)  # let the server finish what the generator abandoned at the stop
        self.cpu.settle(server)
        run.stderr_lines = server.stderr_since(offset)
        return run

    def raw(self, path: Path, rep: int, duration: float) -> Run:
        """The raw sqlite3 ceiling of the list page: one thread, read + encode in a loop."""
        cpu = self.cpu.start()
        pages, elapsed, lat = raw_page_loop(path, duration)
        lat.sort()
        run = Run(
            endpoint="raw_list",
            conns=1,
            rep=rep,
            rps=pages / elapsed,
            p50_ms=percentile(lat, 50) * 1000,
            p99_ms=percentile(lat, 99) * 1000,
            max_ms=lat[-1] * 1000,
            requests=pages,
            non2xx=0,
        )
        run.other_cores = self.cpu.other_cores(cpu)
        if rep:
            print(
                f"  [rep {rep}] raw sqlite3+JSON page of {PAGE}: {run.rps:,.0f} pages/s, "
                f"p99 {run.p99_ms:.2f} ms",
                file=sys.stderr,
                flush=True,
            )
        return run

    def check_posts(self, run: Run, server: Server, before: int) -> None:
        after = settled_count(server.host_port)
        grew = after - before
        ok = run.requests - run.non2xx
        if self.args.generator == "wrk":
            # wrk counts responses it received; at the stop each connection may have one request
            # sent whose response it no longer reads, which the server may still commit.
            run.check_ok = ok <= grew <= ok + run.conns + run.sock_errors
            bound = f"expected {ok} 2xx reported .. +{run.conns} in flight at the stop"
        else:
            # The Python client finishes every request it starts: exact, unless a socket error
            # hid a response the server did commit.
            run.check_ok = ok <= grew <= ok + run.sock_errors
            bound = f"expected exactly {ok} 2xx reported" + (
                f" .. +{run.sock_errors} socket errors" if run.sock_errors else ""
            )
        run.check = (
            f"count {before} -> {after} (+{grew}), {bound}: {'ok' if run.check_ok else 'MISMATCH'}"
        )

    def progress(self, run: Run, ep: Endpoint) -> None:
        self.done += run.rep > 0
        tag = "warm-up" if run.rep == 0 else f"{self.done}/{self.total} rep {run.rep}"
        errs = ""
        if run.non2xx or run.sock_errors:
            errs = f"  non-2xx {run.non2xx} {dict(run.statuses)} sock {dict(run.sock)}"
        other = "" if run.other_cores is None else f", other processes {run.other_cores:.2f} CPU"
        print(
            f"  [{tag}] {ep.label} ({ep.server}) c={run.conns}: {run.rps:,.0f} req/s, "
            f"p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms{other}{errs}"
            f"{'  ' + run.check if run.check else ''}",
            file=sys.stderr,
            flush=True,
        )

    def phase(self, eps: list[Endpoint], raw_db: Path | None = None) -> None:
        """Warm each endpoint once at the highest concurrency, then interleave the repeats.

        Within a repeat the servers compared on one endpoint take turns at each concurrency,
        in an order that flips every repeat, so a slow spell of the machine hits both alike.
        """
        for ep in eps:
            if self.args.warmup > 0:
                run = self.one(ep, max(self.args.connections), 0, self.args.warmup)
                self.runs.append(run)
                self.progress(run, ep)
        if raw_db is not None and self.args.warmup > 0:
            self.raw(raw_db, 0, min(1.0, self.args.warmup))
        kinds = list(dict.fromkeys(e.kind for e in eps))
        for rep in range(1, self.args.repeat + 1):
            for kind in kinds:
                group = [e for e in eps if e.kind == kind]
                if rep % 2 == 0:
                    group.reverse()
                for conns in self.args.connections:
                    for ep in group:
                        run = self.one(ep, conns, rep, self.args.duration)
                        self.runs.append(run)
                        self.progress(run, ep)
            if raw_db is not None:
                self.raw_runs.append(self.raw(raw_db, rep, self.args.duration))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(bench: Bench, eps: list[Endpoint]) -> tuple[list[dict], dict | None]:
    """Medians per endpoint, server and concurrency (and of the raw ceiling), with ratios."""
    measured = [r for r in bench.runs if r.rep > 0]
    cells = []
    for ep in eps:
        for c in bench.args.connections:
            runs = sorted(
                (r for r in measured if r.endpoint == ep.key and r.conns == c), key=lambda r: r.rep
            )
            if not runs:
                continue
            cells.append(
                {
                    "key": ep.key,
                    "kind": ep.kind,
                    "label": ep.label,
                    "server": ep.server,
                    "conns": c,
                    "repeats": len(runs),
                    "rps": median([r.rps for r in runs]),
                    "rps_min": min(r.rps for r in runs),
                    "rps_max": max(r.rps for r in runs),
                    "p50_ms": median([r.p50_ms for r in runs]),
                    "p99_ms": median([r.p99_ms for r in runs]),
                    "max_ms": max(r.max_ms for r in runs),
                    "non2xx": sum(r.non2xx for r in runs),
                    "sock_errors": sum(r.sock_errors for r in runs),
                    "checks_ok": all(r.check_ok for r in runs),
                    "rps_runs": [r.rps for r in runs],
                    "p99_runs": [r.p99_ms for r in runs],
                    "other_cores": [r.other_cores for r in runs],
                }
            )
    raw = None
    if bench.raw_runs:
        runs = bench.raw_runs
        raw = {
            "label": f"raw sqlite3 + json, page of {PAGE}, 1 thread",
            "pages_per_s": median([r.rps for r in runs]),
            "min": min(r.rps for r in runs),
            "max": max(r.rps for r in runs),
            "p50_ms": median([r.p50_ms for r in runs]),
            "p99_ms": median([r.p99_ms for r in runs]),
            "runs": [r.rps for r in runs],
            "other_cores": [r.other_cores for r in runs],
        }
    by = {(c["server"], c["kind"], c["conns"]): c for c in cells}
    for cell in cells:
        peer = by.get(("peer", cell["kind"], cell["conns"]))
        cell["vs_peer"] = (
            cell["rps"] / peer["rps"]
            if cell["server"] == "service" and peer and peer["rps"]
            else None
        )
        if cell["kind"] == "list" and cell["server"] != "const":
            bare = by.get(("const", "list", cell["conns"]))
            cell["vs_raw_http"] = cell["rps"] / bare["rps"] if bare and bare["rps"] else None
        if cell["kind"] == "list" and raw:
            ceiling = raw["pages_per_s"]
            cell["ceiling"] = "raw sqlite3+json"
        else:
            const = by.get(("const", "const", cell["conns"]))
            ceiling = const["rps"] if const and cell["kind"] != "const" else None
            cell["ceiling"] = "const" if ceiling else None
        cell["vs_ceiling"] = cell["rps"] / ceiling if ceiling else None
    return cells, raw


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render(bench: Bench, eps: list[Endpoint], info: dict) -> tuple[str, bool, dict]:
    """The human-readable report, whether the run was clean, and the figures for --json."""
    args = bench.args
    cells, raw = summarise(bench, eps)
    measured = [r for r in bench.runs if r.rep > 0]
    peer_on = any(e.server == "peer" for e in eps)
    lines = [
        "bench-api: the HTTP API under waitress vs its peer (FastAPI + SQLModel under uvicorn) "
        "and the ceilings (a bare Flask+waitress constant endpoint; raw sqlite3 + json for the "
        "page)",
        f"  load generator: {info['generator']}",
        f"  service: python -m app serve, waitress {info['waitress']}, {args.threads} threads, "
        f"Flask {info['flask']}, flask-openapi3 {info['openapi3']}, auth off, INFO log line per "
        "request; const: the same waitress and thread count",
        (
            f"  peer: python -m bench.peer serve, {info['peer']}, one process, sync routes on "
            "AnyIO's thread pool, a Session per request, access log per request"
            if peer_on
            else "  peer: not run (--no-peer)"
        ),
        f"  all on loopback with the generator, {os.cpu_count()} CPU(s), SQLite "
        f"{sqlite3.sqlite_version} (WAL, synchronous=NORMAL) in fresh files, {args.seed:,} items "
        "seeded into each server through POST",
        f"  Python {platform.python_version()}, {platform.system()} {platform.machine()}",
        f"  {args.duration} s per run, {args.repeat} repeat(s) interleaved (service and peer "
        f"take turns), after a {args.warmup} s warm-up per endpoint at "
        f"c={max(args.connections)}; GETs run first on the seeded tables, POSTs last",
        "  req/s, p50 and p99 are medians over the repeats of each run's figure; "
        "non-2xx and sock err are totals over the repeats",
        "",
        f"  {'endpoint':<22}{'server':<13}{'conns':>5}{'req/s':>9}{'(min-max)':>17}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>8}{'sock err':>9}{'vs peer':>9}"
        f"{'vs ceiling':>11}",
    ]
    clean = True
    order = {"const": 0, "service": 1, "peer": 2}
    for kind in KINDS:
        rows = sorted(
            (c for c in cells if c["kind"] == kind), key=lambda c: (c["conns"], order[c["server"]])
        )
        for c in rows:
            clean &= c["non2xx"] == 0 and c["sock_errors"] == 0 and c["checks_ok"]
            spread = f"({c['rps_min']:,.0f}-{c['rps_max']:,.0f})"
            ceiling = (
                "-"
                if c["vs_ceiling"] is None
                else (f"{c['vs_ceiling']:.2f}x" + (" raw" if c["ceiling"] != "const" else ""))
            )
            lines.append(
                f"  {c['label']:<22}{c['server']:<13}{c['conns']:>5}{c['rps']:>9,.0f}"
                f"{spread:>17}{c['p50_ms']:>9.2f}{c['p99_ms']:>9.2f}{c['non2xx']:>8}"
                f"{c['sock_errors']:>9}{_ratio(c['vs_peer']):>9}{ceiling:>11}"
            )
            if c.get("vs_raw_http") is not None:
                lines.append(
                    f"  {'':<40}= {c['vs_raw_http']:.2f}x the raw page behind bare Flask+waitress "
                    f"({RAW_PAGE_PATH}) at c={c['conns']}"
                )
        if kind == "list" and raw:
            spread = f"({raw['min']:,.0f}-{raw['max']:,.0f})"
            lines.append(
                f"  {KINDS['list']:<22}{'raw sqlite3':<13}{'1':>5}{raw['pages_per_s']:>9,.0f}"
                f"{spread:>17}{raw['p50_ms']:>9.2f}{raw['p99_ms']:>9.2f}{0:>8}{0:>9}"
                f"{'-':>9}{'-':>11}"
            )
    lines += [
        "",
        "  vs peer = the service's median req/s / the peer's at the same concurrency; "
        "vs ceiling = / the constant endpoint's at the same concurrency, or (raw) / the raw "
        "sqlite3 page rate",
        f"  raw sqlite3 = the same {PAGE}-row page (count + ORDER BY created_at DESC, id) read "
        "from the service's database file and encoded to the same JSON bytes, in a loop in one "
        "thread of this process (pages/s; its latencies are per page)",
    ]
    if info.get("raw_identical") is not None:
        lines.append(
            "  raw sqlite3 page vs the service's answer for the same page: "
            + ("byte-identical" if info["raw_identical"] else "DIFFERENT BYTES")
        )
        clean &= info["raw_identical"]
    for key in ("shape_check", "schema_check"):
        if info.get(key):
            lines.append(f"  {info[key]}")
    clean &= not info.get("schema_diffs")
    for diff in info.get("schema_diffs", []):
        lines.append(f"    SCHEMA DIFFERS: {diff}")
    lines.append("")

    lines.append("  per repeat (req/s; p99 ms; max ms; CPU used by other processes, in cores):")
    spikes = []
    label_of = {e.key: f"{e.label} ({e.server})" for e in eps}
    for ep in eps:
        for c in args.connections:
            runs = sorted(
                (r for r in measured if r.endpoint == ep.key and r.conns == c), key=lambda r: r.rep
            )
            if not runs:
                continue
            lines.append(
                f"    {label_of[ep.key]:<32} c={c:<3} "
                + " / ".join(f"{r.rps:,.0f}" for r in runs)
                + ";  "
                + " / ".join(f"{r.p99_ms:.1f}" for r in runs)
                + ";  "
                + " / ".join(f"{r.max_ms:.0f}" for r in runs)
                + ";  "
                + " / ".join("?" if r.other_cores is None else f"{r.other_cores:.2f}" for r in runs)
            )
            p99 = median([r.p99_ms for r in runs])
            p50 = median([r.p50_ms for r in runs])
            for r in runs:
                if p99 and r.p99_ms > P99_SPIKE * p99:
                    spikes.append(
                        f"{label_of[ep.key]} c={c} rep {r.rep}: p99 {r.p99_ms:.1f} ms "
                        f"vs median {p99:.1f} ms"
                    )
            if p50 and p99 > 10 * p50:
                spikes.append(
                    f"{label_of[ep.key]} c={c}: median p99 {p99:.1f} ms is "
                    f"{p99 / p50:.0f}x its p50 ({p50:.2f} ms)"
                )
    if raw:
        lines.append(
            f"    {'raw sqlite3 page (this process)':<32} 1 thr "
            + " / ".join(f"{v:,.0f}" for v in raw["runs"])
        )
    lines.append("")

    lines.append("  POST check (item count through GET /items/?limit=1 before and after each run):")
    checked = sorted((r for r in measured if r.check), key=lambda r: (r.rep, r.endpoint, r.conns))
    for r in checked:
        lines.append(
            f"    {label_of[r.endpoint].split('(')[-1].rstrip(')'):<8} c={r.conns:<3} "
            f"rep {r.rep}: {r.check}"
        )
    if not checked:
        lines.append("    (no POST run finished)")
    for name, rows in info.get("post_rows", {}).items():
        lines.append(f"    {name}: table size during the POST runs: {rows}")
    lines.append("")

    errors = [r for r in bench.runs if r.non2xx or r.sock_errors]
    clean &= not errors  # warm-ups included
    if errors:
        lines.append(
            "  ERRORS (any non-2xx, socket error, failed check or server ERROR line "
            "makes the exit status 1):"
        )
        for r in errors:
            rep = "warm-up" if r.rep == 0 else f"rep {r.rep}"
            lines.append(
                f"    {label_of[r.endpoint]} c={r.conns} {rep}: {r.non2xx} non-2xx "
                f"{dict(sorted(r.statuses.items()))}, socket errors {dict(r.sock)}"
            )
            if r.sample:
                lines.append(f"      first: {r.sample[:300]}")
        lines.append("")

    lines.append("  server stderr during the runs:")
    server_of = {e.key: e.server for e in eps}
    for name in bench.servers:
        queue, other, by_cell = 0, [], Counter()
        for r in bench.runs:
            if server_of.get(r.endpoint) != name:
                continue
            q, o = classify_stderr(r.stderr_lines)
            queue += q
            other += o
            if o:
                by_cell[f"{r.endpoint} c={r.conns} rep {r.rep}"] += len(o)
        locked = sum("database is locked" in line for line in other)
        clean &= not any(SERVER_ERROR.search(line) for line in other)
        lines.append(
            f"    {name}: {queue} waitress 'Task queue depth' warnings; "
            f"{len(other)} other non-INFO line(s)"
            + (f", {locked} mentioning 'database is locked'" if locked else "")
        )
        if by_cell:
            lines.append("      by run: " + ", ".join(f"{k}: {v}" for k, v in by_cell.items()))
        for line in list(dict.fromkeys(other))[:8]:
            lines.append(f"      | {line[:240]}")
    lines.append("")
    if spikes:
        lines.append("  p99 spikes:")
        lines += [f"    {s}" for s in spikes]
        lines.append("")
    all_runs = measured + bench.raw_runs
    others = [r.other_cores for r in all_runs if r.other_cores is not None]
    load = None
    if others:
        busy = [
            r for r in all_runs if r.other_cores is not None and r.other_cores > OTHER_LOAD_CORES
        ]
        load = {
            "mean": statistics.mean(others),
            "max": max(others),
            "busy_runs": len(busy),
            "runs": len(all_runs),
            "threshold": OTHER_LOAD_CORES,
        }
        lines.append(
            f"  other processes on the machine used {load['mean']:.2f} CPU on average "
            f"during the runs (max {load['max']:.2f}) of {os.cpu_count()}; "
            f"{len(busy)} of {len(all_runs)} runs above {OTHER_LOAD_CORES} CPU"
            + (" - those figures are disturbed" if busy else "")
        )
        lines.append("")
    for note in info.get("notes", []):
        lines.append(f"  note: {note}")
    figures = {
        "bench": "api",
        "ok": clean,
        "connections": args.connections,
        "duration_s": args.duration,
        "repeat": args.repeat,
        "seed_items": args.seed,
        "threads": args.threads,
        "generator": info["generator"],
        "peer": info.get("peer"),
        "cells": cells,
        "raw_list": raw,
        "raw_identical": info.get("raw_identical"),
        "schema_diffs": info.get("schema_diffs", []),
        "other_load": load,
        "notes": info.get("notes", []),
    }
    return "\n".join(lines), clean, figures


def parse_connections(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("connection counts must be positive")
    return values


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def write_json(path: Path | None, figures: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument(
        "--connections",
        type=parse_connections,
        default=[1, 16, 64],
        help="concurrent connections, comma-separated (1,16,64)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="waitress threads for the service and const (default: what serve uses)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians reported (3)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="seconds of warm-up per endpoint, not reported (1; 0 for none)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1000,
        help="items POSTed into each server before the runs (1000)",
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk when on PATH (auto), or the Python client",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (1: leaves the most CPU to the servers)",
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the FastAPI + SQLModel peer (needs requirements-bench.txt)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.repeat < 1 or args.seed < 1 or args.warmup < 0:
        parser.error("--duration, --repeat and --seed must be positive, --warmup >= 0")
    args.threads = args.threads or serve_default_threads()
    args.wrk = shutil.which("wrk")
    notes: list[str] = []
    if args.generator == "auto":
        args.generator = "wrk" if args.wrk else "python"
    if args.generator == "wrk" and not args.wrk:
        parser.error("--generator wrk: wrk is not on PATH")

    info: dict = {
        "waitress": _dist_version("waitress"),
        "flask": _dist_version("flask"),
        "openapi3": _dist_version("flask-openapi3"),
    }
    if args.peer:
        missing = [n for n in ("fastapi", "sqlmodel", "uvicorn") if _dist_version(n) == "?"]
        if missing:
            parser.error(
                f"the peer needs {', '.join(missing)}: pip install -r "
                "requirements-bench.txt (make bench-api does), or pass --no-peer"
            )
        extras = [n for n in ("uvloop", "httptools") if _dist_version(n) != "?"]
        info["peer"] = (
            f"FastAPI {_dist_version('fastapi')}, SQLModel "
            f"{_dist_version('sqlmodel')}, SQLAlchemy {_dist_version('sqlalchemy')}, "
            f"uvicorn {_dist_version('uvicorn')}"
            + (f" with {' and '.join(extras)}" if extras else "")
        )
    if args.generator == "wrk":
        info["generator"] = (
            f"{wrk_version(args.wrk)} ({args.wrk}), {args.wrk_threads} "
            f"thread(s), keep-alive, --timeout {WRK_TIMEOUT}; Lua script counts "
            "non-2xx, percentiles from wrk's latency histogram"
        )
    else:
        info["generator"] = (
            "PYTHON FALLBACK (wrk not found): one thread per connection, http.client keep-alive, "
            "in one process under the GIL; it competes with the servers for the CPUs and its "
            "latencies include its own scheduling, so figures are lower bounds on what the "
            "servers can do - install wrk for real numbers"
        )
        print(
            "bench-api: wrk not on PATH: using the Python load generator (figures are "
            "pessimistic; see the header)",
            file=sys.stderr,
            flush=True,
        )

    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even when started with SIGINT ignored
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    py = sys.executable
    parent = ["--parent-pid", str(os.getpid())]
    servers = {
        "service": Server(
            "service",
            [
                py,
                "-m",
                "app",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(folder / "data"),
                "--threads",
                str(args.threads),
                "--no-auth-required",
                "--log-level",
                "INFO",
                *parent,
            ],
            folder,
        ),
        "const": Server(
            "const",
            [
                py,
                "-m",
                "bench.const_app",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--threads",
                str(args.threads),
                "--raw-db",
                str(folder / "data" / SERVICE_DB),
                *parent,
            ],
            folder,
        ),
    }
    if args.peer:
        servers["peer"] = Server(
            "peer",
            [
                py,
                "-m",
                "bench.peer",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(folder / "peer"),
                "--log-level",
                "INFO",
                *parent,
            ],
            folder,
        )
    service, peer = servers["service"], servers.get("peer")
    service_db, peer_db = folder / "data" / SERVICE_DB, folder / "peer" / PEER_DB
    bench = Bench(args, folder, servers)
    text, clean, interrupted, failure = "", False, False, None
    figures: dict = {"bench": "api", "ok": False}
    try:
        for server in servers.values():
            server.start(env)
        print(
            "bench-api: "
            + ", ".join(f"{s.name} at {s.url}" for s in servers.values())
            + f"; data and logs in {folder}",
            file=sys.stderr,
            flush=True,
        )
        t = time.perf_counter()
        ids = seed(service.host_port, args.seed)
        peer_ids = seed(peer.host_port, args.seed, "peer") if peer else None
        print(
            f"  seeded {len(ids):,} items into each server through POST in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        if peer:
            info["schema_diffs"] = compare_schemas(service_db, peer_db)
            info["schema_check"] = (
                "schema: the peer's user and item tables have the same columns (name, type, NOT "
                "NULL, default, primary key), indexes and foreign keys as the service's migrated "
                "database"
                if not info["schema_diffs"]
                else "schema: the peer's tables DIFFER from the service's (see below)"
            )
            info["shape_check"] = "answers: " + compare_answers(
                service.host_port, ids[0], peer.host_port, peer_ids[0]
            )
        status, body = call(service.host_port, "GET", f"{API}/items/?skip=0&limit={PAGE}")
        conn = raw_connect(service_db)
        try:
            info["raw_identical"] = status == 200 and raw_page(conn) == body
        finally:
            conn.close()
        eps = endpoints(ids, peer_ids)
        reads = [e for e in eps if not e.writes]
        writes = [e for e in eps if e.writes]
        bench.total = len(eps) * len(args.connections) * args.repeat
        bench.phase(reads, raw_db=service_db)
        before = {s.name: settled_count(s.host_port) for s in (service, peer) if s}
        bench.phase(writes)
        info["post_rows"] = {
            name: f"{rows:,} -> {settled_count(servers[name].host_port):,} items (warm-up and "
            "shape-check POSTs included)"
            for name, rows in before.items()
        }
    except KeyboardInterrupt as exc:
        interrupted = True
        print(
            f"\nbench-api: interrupted ({exc or 'Ctrl-C'}); stopping the servers",
            file=sys.stderr,
            flush=True,
        )
    except Exception as exc:  # noqa: BLE001 - report, stop the servers, keep the logs
        failure = f"{type(exc).__name__}: {exc}"
        print(f"\nbench-api: FAILED: {failure}", file=sys.stderr, flush=True)
        for server in servers.values():
            if server.proc is not None:
                print(
                    f"--- {server.name} stderr (last lines):\n{server.stderr_tail()}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    notes += [s.exit_note for s in servers.values() if s.exit_note]
    for name, db in (("service", service_db), ("peer", peer_db)):
        if db.exists():
            notes.append(f"{name} database file at the end: {db.stat().st_size / 1e6:.1f} MB")
    notes.append(f"total benchmark time {time.perf_counter() - started:.1f} s")
    info["notes"] = notes
    if bench.runs:
        eps = endpoints([], [] if args.peer else None)
        text, clean, figures = render(bench, eps, info)
        if interrupted or failure:
            text = (
                f"  {'INTERRUPTED' if interrupted else 'FAILED: ' + failure}: partial "
                "results\n" + text
            )
        print(text, flush=True)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        suffix = "-interrupted" if interrupted else "-failed" if failure else ""
        out = RESULTS_DIR / f"api-{stamp}{suffix}.txt"
        out.write_text(text + "\n", encoding="utf-8")
        print(f"\nwritten to {out.relative_to(REPO)}")
        figures["text_file"] = str(out.relative_to(REPO))
    else:
        print("\n".join(f"  note: {n}" for n in notes), file=sys.stderr)
    stopped_clean = all(s.exit_note.endswith("exit 0") for s in servers.values() if s.proc)
    figures["ok"] = bool(clean and stopped_clean and not failure and not interrupted)
    figures["failure"] = failure or ("interrupted" if interrupted else None)
    write_json(args.json, figures)
    if interrupted:
        print(f"  logs kept in {folder}", file=sys.stderr)
        return 130
    if failure or not clean or not stopped_clean:
        print(
            f"bench-api: errors or failed checks (see above); logs kept in {folder}",
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
