"""Benchmark the HTTP API under waitress against a bare Flask+waitress constant endpoint.

Starts ``python -m app serve`` on a fresh temporary data dir (SQLite) and ``python -m
bench.const_app`` with the same waitress thread count, seeds items through the API, then drives
``GET /items/{id}``, ``GET /items/?limit=50``, ``POST /items/`` and the constant endpoint at each
concurrency with wrk (or, when wrk is missing, a small threaded Python client), and prints one
table of medians: requests/s, p50 and p99 latency, errors, and the ratio to the constant endpoint
at the same concurrency. The table is also written to ``bench/results/api-<UTC stamp>.txt``.

Every response is counted: non-2xx statuses and socket errors are reported per cell, and after
each POST run the item count must have risen by the POSTs the generator saw succeed. Any error
makes the exit status 1 (after the table is printed), so a run cannot silently measure errors.
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
from bench.const_app import serve_default_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
API = "/api/v1"
# Environment variables that would point the service elsewhere than the fresh SQLite file or
# change what a request does; the children run without them.
SCRUBBED_ENV = (
    "DATA_DIR", "DATABASE_URL", "DATABASE_NAME", "HOST", "PORT", "AUTH_REQUIRED", "LOG_LEVEL",
)
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
WRK_TIMEOUT = "10s"  # wrk's default of 2 s would turn slow responses into "timeout" errors
POST_BODY = json.dumps({"title": "bench post", "description": "written by the load generator"})
OTHER_LOAD_CORES = 0.25  # runs where other processes used more CPU than this are flagged
P99_SPIKE = 3.0  # a repeat whose p99 exceeds the median p99 by this factor is listed as a spike


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    server: str  # "const" or "service"
    method: str
    paths: tuple[str, ...]  # one, or several cycled through (each connection its own offset)
    body: str | None = None

    @property
    def writes(self) -> bool:
        return self.method == "POST"


def endpoints(ids: list[str]) -> list[Endpoint]:
    return [
        Endpoint("const", f"GET {CONST_PATH} (ceiling)", "const", "GET", (CONST_PATH,)),
        Endpoint("get_id", "GET /items/{id}", "service", "GET",
                 tuple(f"{API}/items/{i}" for i in ids)),
        Endpoint("list", "GET /items/?limit=50", "service", "GET",
                 (f"{API}/items/?skip=0&limit=50",)),
        Endpoint("post", "POST /items/", "service", "POST", (f"{API}/items/",), POST_BODY),
    ]


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
                self.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
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
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n"
                           + self.stderr_tail())

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
                self.exit_note = f"{self.name}: did not stop {STOP_TIMEOUT_S:.0f} s after " \
                                 "SIGTERM; killed"
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

    def other_cores(self, start) -> float | None:
        """Cores' worth of CPU used by other processes since ``start``."""
        end = self._snapshot()
        if start is None or end is None or end[0] <= start[0]:
            return None
        return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]))


# --------------------------------------------------------------------------- small HTTP client


def call(host_port: tuple[str, int], method: str, path: str, body: str | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
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


def seed(host_port: tuple[str, int], n: int) -> list[str]:
    """POST ``n`` items on one keep-alive connection; check them back; return their ids."""
    before = item_count(host_port)
    conn = http.client.HTTPConnection(*host_port, timeout=30)
    ids = []
    try:
        for i in range(n):
            body = json.dumps({"title": f"seed item {i}", "description": f"seeded item {i}"})
            status, data = call(host_port, "POST", f"{API}/items/", body, conn)
            if status != 200:
                raise RuntimeError(f"seeding: POST {API}/items/ answered {status}: {data[:300]!r}")
            ids.append(json.loads(data)["id"])
    finally:
        conn.close()
    after = item_count(host_port)
    if after - before != n:
        raise RuntimeError(f"seeding: item count went {before} -> {after}, expected +{n}")
    status, data = call(host_port, "GET", f"{API}/items/{ids[n // 2]}")
    if status != 200 or json.loads(data).get("id") != ids[n // 2]:
        raise RuntimeError(f"seeding: GET one item answered {status}: {data[:300]!r}")
    status, data = call(host_port, "GET", f"{API}/items/?skip=0&limit=50")
    page = json.loads(data) if status == 200 else {}
    if len(page.get("data", ())) != min(50, after) or page.get("count") != after:
        raise RuntimeError(f"seeding: GET /items/?limit=50 answered {status}: {data[:300]!r}")
    return ids


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
        body = (f'wrk.body = [==[{ep.body}]==]\n'
                'wrk.headers["Content-Type"] = "application/json"')
    text = (WRK_LUA.replace("@METHOD@", ep.method)
            .replace("@BODY@", body)
            .replace("@PATHS@", ", ".join(f'"{p}"' for p in ep.paths))
            # A request() function makes wrk build each request in Lua: only when paths vary.
            .replace("@REQUEST@", WRK_REQUEST_FN if len(ep.paths) > 1 else ""))
    path = folder / f"{ep.key}.lua"
    path.write_text(text, encoding="utf-8")
    return path


def run_wrk(wrk: str, wrk_threads: int, ep: Endpoint, script: Path, url: str, conns: int,
            duration: int) -> Run:
    cmd = [wrk, f"-t{min(wrk_threads, conns)}", f"-c{conns}", f"-d{duration}s",
           f"--timeout={WRK_TIMEOUT}", "--latency", "-s", str(script), url + ep.paths[0]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    figures: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            _, key, *rest = line.split(" ", 2)
            figures[key] = rest[0] if rest else ""
    if proc.returncode != 0 or "requests" not in figures:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    requests = int(figures["requests"])
    seconds = int(figures["duration_us"]) / 1e6
    statuses = Counter({k.removeprefix("status_"): int(v) for k, v in figures.items()
                        if k.startswith("status_")})
    sock = Counter({k.removeprefix("sock_"): int(v) for k, v in figures.items()
                    if k.startswith("sock_") and int(v)})
    return Run(
        endpoint=ep.key, conns=conns, rep=-1,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=int(figures["p50_us"]) / 1000, p99_ms=int(figures["p99_us"]) / 1000,
        max_ms=int(figures["max_us"]) / 1000,
        requests=requests, non2xx=int(figures["non2xx"]), statuses=statuses, sock=sock,
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
                    data[:300].decode(errors="replace").split())
        conn.close()
        with lock:
            results.append({"lat": lat, "statuses": statuses, "sock": sock, "sample": sample,
                            "end": end})

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
        endpoint=ep.key, conns=conns, rep=-1,
        rps=len(latencies) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        requests=len(latencies), non2xx=sum(statuses.values()), statuses=statuses, sock=sock,
        sample=next((r["sample"] for r in results if r["sample"]), ""),
    )


# --------------------------------------------------------------------------- the benchmark


NOISE = re.compile(r"Task queue depth is \d+")
SERVER_ERROR = re.compile(r" (ERROR|CRITICAL) |Traceback|database is locked")


def classify_stderr(lines: list[str]) -> tuple[int, list[str]]:
    """(waitress queue-depth warnings, every other line that is not routine INFO)."""
    queue = sum(1 for line in lines if NOISE.search(line))
    other = [line for line in lines
             if not NOISE.search(line) and " INFO " not in line and line.strip()]
    return queue, other


class Bench:
    def __init__(self, args, folder: Path, service: Server, const: Server):
        self.args = args
        self.folder = folder
        self.servers = {"service": service, "const": const}
        self.runs: list[Run] = []
        self.scripts: dict[str, Path] = {}
        self.done = 0
        self.total = 0
        self.cpu = CpuMeter([service, const])

    def one(self, ep: Endpoint, conns: int, rep: int, duration: int) -> Run:
        server = self.servers[ep.server]
        offset = server.stderr_size()
        if ep.writes:
            before = settled_count(server.host_port)
        cpu = self.cpu.start()
        if self.args.generator == "wrk":
            if ep.key not in self.scripts:
                self.scripts[ep.key] = wrk_script(ep, self.folder)
            run = run_wrk(self.args.wrk, self.args.wrk_threads, ep, self.scripts[ep.key],
                          server.url, conns, duration)
        else:
            run = run_python(ep, server.host_port, conns, duration)
        run.other_cores = self.cpu.other_cores(cpu)
        run.rep = rep
        if ep.writes:
            self.check_posts(run, server, before)
        time.sleep(0.3)  # let the server finish what the generator abandoned at the stop
        run.stderr_lines = server.stderr_since(offset)
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
                f" .. +{run.sock_errors} socket errors" if run.sock_errors else "")
        run.check = (f"count {before} -> {after} (+{grew}), {bound}: "
                     f"{'ok' if run.check_ok else 'MISMATCH'}")

    def progress(self, run: Run, label: str) -> None:
        self.done += run.rep > 0
        tag = "warm-up" if run.rep == 0 else f"{self.done}/{self.total} rep {run.rep}"
        errs = ""
        if run.non2xx or run.sock_errors:
            errs = f"  non-2xx {run.non2xx} {dict(run.statuses)} sock {dict(run.sock)}"
        other = "" if run.other_cores is None else f", other processes {run.other_cores:.2f} CPU"
        print(f"  [{tag}] {label} c={run.conns}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.2f} ms, "
              f"p99 {run.p99_ms:.2f} ms{other}{errs}{'  ' + run.check if run.check else ''}",
              file=sys.stderr, flush=True)

    def phase(self, eps: list[Endpoint]) -> None:
        """Warm each endpoint once at the highest concurrency, then interleave the repeats."""
        for ep in eps:
            if self.args.warmup > 0:
                run = self.one(ep, max(self.args.connections), 0, self.args.warmup)
                self.runs.append(run)
                self.progress(run, ep.label)
        for rep in range(1, self.args.repeat + 1):
            for ep in eps:
                for conns in self.args.connections:
                    run = self.one(ep, conns, rep, self.args.duration)
                    self.runs.append(run)
                    self.progress(run, ep.label)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(bench: Bench, eps: list[Endpoint], info: dict) -> tuple[str, bool]:
    args = bench.args
    measured = [r for r in bench.runs if r.rep > 0]
    cells: dict[tuple[str, int], list[Run]] = {}
    for r in measured:
        cells.setdefault((r.endpoint, r.conns), []).append(r)
    ceiling = {c: median([r.rps for r in cells.get(("const", c), [])]) for c in args.connections}

    lines = [
        "bench-api: the HTTP API under waitress vs a bare Flask+waitress constant endpoint "
        "(the ceiling)",
        f"  load generator: {info['generator']}",
        f"  servers: waitress {info['waitress']}, {args.threads} threads each, on loopback with "
        f"the generator, {os.cpu_count()} CPU(s); service: python -m app serve, auth off, "
        f"SQLite {sqlite3.sqlite_version} in a fresh data dir, {args.seed:,} items seeded "
        "through POST",
        f"  Python {platform.python_version()}, Flask {info['flask']}, flask-openapi3 "
        f"{info['openapi3']}, {platform.system()} {platform.machine()}",
        f"  {args.duration} s per run, {args.repeat} repeat(s) interleaved, after a "
        f"{args.warmup} s warm-up per endpoint at c={max(args.connections)}; "
        "GETs run first on the seeded table, POSTs last",
        "  req/s, p50 and p99 are medians over the repeats of each run's figure; "
        "non-2xx and sock err are totals over the repeats",
        "",
        f"  {'endpoint':<24}{'conns':>6}{'req/s':>9}{'(min-max)':>16}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'non-2xx':>9}{'sock err':>10}{'vs const':>10}",
    ]
    clean = True
    for ep in eps:
        for c in args.connections:
            runs = cells.get((ep.key, c), [])
            if not runs:
                continue
            rps = median([r.rps for r in runs])
            non = sum(r.non2xx for r in runs)
            sock = sum(r.sock_errors for r in runs)
            clean &= non == 0 and sock == 0 and all(r.check_ok for r in runs)
            spread = f"({min(r.rps for r in runs):,.0f}-{max(r.rps for r in runs):,.0f})"
            ratio = "-" if ep.key == "const" else f"{rps / ceiling[c]:.2f}x"
            lines.append(
                f"  {ep.label:<24}{c:>6}{rps:>9,.0f}{spread:>16}"
                f"{median([r.p50_ms for r in runs]):>9.2f}{median([r.p99_ms for r in runs]):>9.2f}"
                f"{non:>9}{sock:>10}{ratio:>10}"
            )
    lines += ["", "  vs const = the endpoint's median req/s / the constant endpoint's median "
              "req/s at the same concurrency", ""]

    lines.append("  per repeat (req/s; p99 ms; max ms; CPU used by other processes, in cores):")
    spikes = []
    for ep in eps:
        for c in args.connections:
            runs = sorted(cells.get((ep.key, c), []), key=lambda r: r.rep)
            if not runs:
                continue
            lines.append(
                f"    {ep.label:<24} c={c:<3} "
                + " / ".join(f"{r.rps:,.0f}" for r in runs) + ";  "
                + " / ".join(f"{r.p99_ms:.1f}" for r in runs) + ";  "
                + " / ".join(f"{r.max_ms:.0f}" for r in runs) + ";  "
                + " / ".join("?" if r.other_cores is None else f"{r.other_cores:.2f}"
                             for r in runs)
            )
            p99 = median([r.p99_ms for r in runs])
            p50 = median([r.p50_ms for r in runs])
            for r in runs:
                if p99 and r.p99_ms > P99_SPIKE * p99:
                    spikes.append(f"{ep.label} c={c} rep {r.rep}: p99 {r.p99_ms:.1f} ms vs "
                                  f"median {p99:.1f} ms")
            if p50 and p99 > 10 * p50:
                spikes.append(f"{ep.label} c={c}: median p99 {p99:.1f} ms is "
                              f"{p99 / p50:.0f}x its p50 ({p50:.2f} ms)")
    lines.append("")

    lines.append("  POST check (item count through GET /items/?limit=1 before and after each run):")
    checked = sorted((r for r in measured if r.check), key=lambda r: (r.rep, r.conns))
    for r in checked:
        lines.append(f"    c={r.conns:<3} rep {r.rep}: {r.check}")
    if not checked:
        lines.append("    (no POST run finished)")
    if info.get("post_rows"):
        lines.append(f"    table size during the POST runs: {info['post_rows']}")
    lines.append("")

    errors = [r for r in bench.runs if r.non2xx or r.sock_errors]
    clean &= not errors  # warm-ups included
    if errors:
        lines.append("  ERRORS (any non-2xx, socket error, failed check or server ERROR line "
                     "makes the exit status 1):")
        for r in errors:
            label = next(e.label for e in eps if e.key == r.endpoint)
            rep = "warm-up" if r.rep == 0 else f"rep {r.rep}"
            lines.append(f"    {label} c={r.conns} {rep}: {r.non2xx} non-2xx "
                         f"{dict(sorted(r.statuses.items()))}, socket errors {dict(r.sock)}")
            if r.sample:
                lines.append(f"      first: {r.sample[:300]}")
        lines.append("")

    lines.append("  server stderr during the runs:")
    for name in ("service", "const"):
        queue, other, by_cell = 0, [], Counter()
        for r in bench.runs:
            server = next(e.server for e in eps if e.key == r.endpoint)
            if server != name:
                continue
            q, o = classify_stderr(r.stderr_lines)
            queue += q
            other += o
            if o:
                by_cell[f"{r.endpoint} c={r.conns} rep {r.rep}"] += len(o)
        locked = sum("database is locked" in line for line in other)
        clean &= not any(SERVER_ERROR.search(line) for line in other)
        lines.append(f"    {name}: {queue} waitress 'Task queue depth' warnings; "
                     f"{len(other)} other non-INFO line(s)"
                     + (f", {locked} mentioning 'database is locked'" if locked else ""))
        if by_cell:
            lines.append("      by run: " + ", ".join(f"{k}: {v}" for k, v in by_cell.items()))
        for line in list(dict.fromkeys(other))[:8]:
            lines.append(f"      | {line[:240]}")
    lines.append("")
    if spikes:
        lines.append("  p99 spikes:")
        lines += [f"    {s}" for s in spikes]
        lines.append("")
    others = [r.other_cores for r in measured if r.other_cores is not None]
    if others:
        busy = [r for r in measured if r.other_cores is not None
                and r.other_cores > OTHER_LOAD_CORES]
        lines.append(
            f"  other processes on the machine used {statistics.mean(others):.2f} CPU on average "
            f"during the runs (max {max(others):.2f}) of {os.cpu_count()}; "
            f"{len(busy)} of {len(measured)} runs above {OTHER_LOAD_CORES} CPU"
            + (" - those figures are disturbed" if busy else "")
        )
        lines.append("")
    for note in info.get("notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines), clean


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--connections", type=parse_connections, default=[1, 16, 64],
                        help="concurrent connections, comma-separated (1,16,64)")
    parser.add_argument("--threads", type=int, default=None,
                        help="waitress threads for both servers (default: what serve uses)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians reported (3)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="seconds of warm-up per endpoint, not reported (1; 0 for none)")
    parser.add_argument("--seed", type=int, default=1000, help="items POSTed before the runs")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk when on PATH (auto), or the Python client")
    parser.add_argument("--wrk-threads", type=int, default=1,
                        help="wrk threads (1: leaves the most CPU to the servers)")
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

    import flask
    import flask_openapi3
    import waitress

    info = {
        "waitress": getattr(waitress, "__version__", None) or _dist_version("waitress"),
        "flask": _dist_version("flask"),
        "openapi3": _dist_version("flask-openapi3"),
    }
    del flask, flask_openapi3
    if args.generator == "wrk":
        info["generator"] = (f"{wrk_version(args.wrk)} ({args.wrk}), {args.wrk_threads} "
                             f"thread(s), keep-alive, --timeout {WRK_TIMEOUT}; Lua script counts "
                             "non-2xx, percentiles from wrk's latency histogram")
    else:
        info["generator"] = (
            "PYTHON FALLBACK (wrk not found): one thread per connection, http.client keep-alive, "
            "in one process under the GIL; it competes with the servers for the CPUs and its "
            "latencies include its own scheduling, so figures are lower bounds on what the "
            "servers can do - install wrk for real numbers"
        )
        print("bench-api: wrk not on PATH: using the Python load generator (figures are "
              "pessimistic; see the header)", file=sys.stderr, flush=True)

    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even when started with SIGINT ignored
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    py = sys.executable
    service = Server("service", [
        py, "-m", "app", "serve", "--host", "127.0.0.1", "--port", "0",
        "--data-dir", str(folder / "data"), "--threads", str(args.threads),
        "--no-auth-required", "--log-level", "INFO", "--parent-pid", str(os.getpid()),
    ], folder)
    const = Server("const", [
        py, "-m", "bench.const_app", "--host", "127.0.0.1", "--port", "0",
        "--threads", str(args.threads), "--parent-pid", str(os.getpid()),
    ], folder)
    bench = Bench(args, folder, service, const)
    text, clean, interrupted, failure = "", False, False, None
    try:
        service.start(env)
        const.start(env)
        print(f"bench-api: service at {service.url}, constant app at {const.url} "
              f"({args.threads} waitress threads each); data and logs in {folder}",
              file=sys.stderr, flush=True)
        t = time.perf_counter()
        ids = seed(service.host_port, args.seed)
        print(f"  seeded {len(ids):,} items through POST in {time.perf_counter() - t:.1f} s",
              file=sys.stderr, flush=True)
        eps = endpoints(ids)
        reads = [e for e in eps if not e.writes]
        writes = [e for e in eps if e.writes]
        bench.total = len(eps) * len(args.connections) * args.repeat
        bench.phase(reads)
        rows_before = settled_count(service.host_port)
        bench.phase(writes)
        rows_after = settled_count(service.host_port)
        info["post_rows"] = f"{rows_before:,} -> {rows_after:,} items (warm-up POSTs included)"
    except KeyboardInterrupt as exc:
        interrupted = True
        print(f"\nbench-api: interrupted ({exc or 'Ctrl-C'}); stopping the servers",
              file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - report, stop the servers, keep the logs
        failure = f"{type(exc).__name__}: {exc}"
        print(f"\nbench-api: FAILED: {failure}", file=sys.stderr, flush=True)
        for server in (service, const):
            if server.proc is not None:
                print(f"--- {server.name} stderr (last lines):\n{server.stderr_tail()}",
                      file=sys.stderr, flush=True)
    finally:
        for server in (service, const):
            server.stop()
    notes += [s.exit_note for s in (service, const) if s.exit_note]
    db = folder / "data" / "app.db"
    if db.exists():
        notes.append(f"database file at the end: {db.stat().st_size / 1e6:.1f} MB")
    notes.append(f"total benchmark time {time.perf_counter() - started:.1f} s")
    info["notes"] = notes
    if bench.runs:
        eps = endpoints([])
        text, clean = render(bench, eps, info)
        if interrupted or failure:
            text = f"  {'INTERRUPTED' if interrupted else 'FAILED: ' + failure}: partial " \
                   "results\n" + text
        print(text, flush=True)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        suffix = "-interrupted" if interrupted else "-failed" if failure else ""
        out = RESULTS_DIR / f"api-{stamp}{suffix}.txt"
        out.write_text(text + "\n", encoding="utf-8")
        print(f"\nwritten to {out.relative_to(REPO)}")
    else:
        print("\n".join(f"  note: {n}" for n in notes), file=sys.stderr)
    stopped_clean = all(s.exit_note.endswith("exit 0") for s in (service, const) if s.proc)
    if interrupted:
        print(f"  logs kept in {folder}", file=sys.stderr)
        return 130
    if failure or not clean or not stopped_clean:
        print(f"bench-api: errors or failed checks (see above); logs kept in {folder}",
              file=sys.stderr)
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
