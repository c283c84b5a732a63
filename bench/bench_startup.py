"""Benchmark start-up as the desktop app sees it: ``python -m app serve`` vs the sidecar executable.

For each variant and each data-dir state, ``--runs`` times (interleaved, so a slow spell of the
machine hits every cell alike), the service is spawned as a desktop shell spawns it and timed:

* ready  - from spawn to the JSON ready line read on its stdout;
* health - from spawn to the first ``GET /api/v1/utils/health-check/`` answered 200 ``true``
  (polled every 5 ms from the moment of spawn, on a port chosen before the spawn, so it does
  not wait for the ready line);
* idle RSS - of the process that runs Python (the pid the ready line gives), 1 s after the
  ready line (were it a child of the spawned process, as with a one-file build's bootloader,
  the parent's own RSS is listed apart);
* stop - from SIGTERM to exit; every stop must exit 0 (and, for the executable, leave nothing
  unpacked in its TMPDIR), else the run is counted as an error and the exit status is 1.

Variants: ``python -m app`` with its bytecode cache warm; with no bytecode cache at all
(``PYTHONPYCACHEPREFIX`` pointing at a fresh empty folder + ``PYTHONDONTWRITEBYTECODE=1``:
every module, the standard library's and the dependencies' included, is compiled from source,
the worst case after an install without .pyc); with ``-B`` on a fresh copy of the project's
sources (the dependencies' .pyc warm, as after a checkout); and the executable of the
PyInstaller one-dir bundle (built from sidecar.spec into dist/ when missing or older than its
sources), which unpacks nothing (a one-file build wrote ~75 MB into TMPDIR at every start).

The floor (``bench/floor.py``): the same interpreter importing only Flask, pydantic and PyDAL,
then printing a ready line and answering health like the service: what no service on this stack
can go below, measured in the same run so the service's targets are ratios to it.

Data-dir states: ``fresh`` (an empty folder per run: the first start, which migrates from empty
and creates the local superuser) and ``migrated`` (a folder at head, no migration pending).

Prints a table of medians (min-max) and writes it to ``bench/results/startup-<UTC stamp>.txt``.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.sidecar_build import REPO, SOURCE_DIRS, exe_path, newest_source, pyinstaller_command

RESULTS_DIR = REPO / "bench" / "results"
HEALTH = "/api/v1/utils/health-check/"
SCRUBBED_ENV = (
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_NAME",
    "HOST",
    "PORT",
    "AUTH_REQUIRED",
    "LOG_LEVEL",
    "LAUNCH_TOKEN",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "SIDECAR_TARGET_TRIPLE",
)
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
IDLE_S = 1.0
POLL_S = 0.005
STATES = ("fresh", "migrated")


# --------------------------------------------------------------------------- the executable


def default_exe() -> Path:
    return exe_path(REPO / "dist")


def ensure_exe(exe: Path, rebuild: bool) -> str:
    """Build the executable when missing (or stale, with ``rebuild``); say what was done."""
    mtime, path = newest_source()
    if exe.is_file():
        if not rebuild or exe.stat().st_mtime > mtime:
            stale = exe.stat().st_mtime <= mtime
            return f"existing {exe.relative_to(REPO) if exe.is_relative_to(REPO) else exe}" + (
                f" (OLDER than {path.relative_to(REPO)})" if stale else ""
            )
        reason = f"older than {path.relative_to(REPO)}"
    else:
        reason = "missing"
    print(
        f"bench-startup: {exe.name} is {reason}; building it with PyInstaller (sidecar.spec)",
        flush=True,
    )
    started = time.monotonic()
    subprocess.run(pyinstaller_command(exe.parent.parent, REPO / "build"), cwd=REPO, check=True)
    if not exe.is_file():
        raise SystemExit(f"bench-startup: PyInstaller did not produce {exe}")
    return f"built {exe.name} in {time.monotonic() - started:.1f} s ({reason})"


# --------------------------------------------------------------------------- one start


@dataclass(frozen=True)
class Variant:
    key: str
    label: str


VARIANTS = (
    Variant("warm", "python -m app, warm .pyc"),
    Variant("nocache", "python -m app, no .pyc at all"),
    Variant("srccopy", "python -B -m app, fresh source copy"),
    Variant("exe", "one-dir bundle's executable"),
    Variant("peer", "peer (FastAPI+SQLModel), warm .pyc"),
    Variant("floor", "floor: import flask, pydantic, pydal"),
)
SHM = Path("/dev/shm")  # Linux tmpfs: the exe-shm variant unpacks there (no disk I/O)


@dataclass
class Sample:
    ready_ms: float
    health_ms: float
    rss_mib: float
    boot_rss_mib: float | None
    stop_ms: float


@dataclass
class Cell:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health_ok(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", HEALTH)
        response = connection.getresponse()
        return response.status == 200 and json.loads(response.read()) is True
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        connection.close()


class Bench:
    def __init__(self, work: Path, exe: Path | None) -> None:
        self.work = work
        self.exe = exe
        self.env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        self.tmpdir = work / "tmp"  # the executable's TMPDIR: what it unpacks is checked
        self.tmpdir.mkdir()
        self.shm_tmpdir = None
        if SHM.is_dir() and os.access(SHM, os.W_OK):
            self.shm_tmpdir = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=SHM))
        self.src_copy = work / "src"
        for name in SOURCE_DIRS:
            shutil.copytree(
                REPO / name,
                self.src_copy / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        shutil.copy2(REPO / "alembic.ini", self.src_copy / "alembic.ini")
        self.counter = 0

    def command(self, variant: Variant, data_dir: Path, port: int) -> tuple[list, Path, dict]:
        """(argv, cwd, env) of one start."""
        serve = ["serve", "--port", str(port), "--data-dir", str(data_dir)]
        env = dict(self.env)
        if variant.key in ("exe", "exe-shm"):
            env["TMPDIR"] = str(self.shm_tmpdir if variant.key == "exe-shm" else self.tmpdir)
            return [str(self.exe), *serve], REPO, env
        if variant.key == "nocache":
            self.counter += 1
            prefix = self.work / f"pycache-{self.counter}"
            prefix.mkdir()
            env.update(PYTHONPYCACHEPREFIX=str(prefix), PYTHONDONTWRITEBYTECODE="1")
            return [sys.executable, "-m", "app", *serve], REPO, env
        if variant.key == "peer":
            # bench/peer: the same command-line contract (ready line, health, SIGTERM -> 0).
            return [sys.executable, "-m", "bench.peer", *serve], REPO, env
        if variant.key == "floor":
            # The same interpreter importing only Flask, pydantic and PyDAL (bench/floor.py).
            return [sys.executable, "-m", "bench.floor", *serve], REPO, env
        if variant.key == "srccopy":
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            return [sys.executable, "-B", "-m", "app", *serve], self.src_copy, env
        return [sys.executable, "-m", "app", *serve], REPO, env

    def start_once(self, variant: Variant, data_dir: Path) -> Sample:
        port = free_port()
        argv, cwd, env = self.command(variant, data_dir, port)
        stderr_path = self.work / f"stderr-{variant.key}-{time.monotonic_ns()}.log"
        with open(stderr_path, "wb") as stderr:
            started = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
            try:
                return self._measure(proc, started, port)
            except Exception as exc:
                tail = stderr_path.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{exc}; stderr:\n{tail}") from None
            finally:
                self._ensure_stopped(proc)
                proc.stdout.close()

    def _measure(self, proc: subprocess.Popen, started: float, port: int) -> Sample:
        ready: dict = {}

        def read_ready() -> None:
            line = proc.stdout.readline()
            ready["at"] = time.perf_counter()
            ready["line"] = line

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        health_at = None
        deadline = started + READY_TIMEOUT_S
        while health_at is None:
            if health_ok(port):
                health_at = time.perf_counter()
                break
            if proc.poll() is not None:
                raise RuntimeError(f"exited {proc.returncode} before answering health")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no health answer within {READY_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        reader.join(max(0.0, deadline - time.perf_counter()))
        if not ready.get("line"):
            raise RuntimeError("no ready line")
        line = json.loads(ready["line"])
        if line.get("event") != "ready" or line.get("port") != port:
            raise RuntimeError(f"unexpected ready line {line}")

        time.sleep(max(0.0, ready["at"] + IDLE_S - time.perf_counter()))
        python = psutil.Process(line["pid"])
        rss = python.memory_info().rss / 2**20
        boot_rss = None
        if line["pid"] != proc.pid:
            if python.ppid() != proc.pid:
                raise RuntimeError(f"ready pid {line['pid']} is not the spawned process's child")
            boot_rss = psutil.Process(proc.pid).memory_info().rss / 2**20

        stop_started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_TIMEOUT_S)
        stop_ms = (time.perf_counter() - stop_started) * 1000
        if code != 0:
            raise RuntimeError(f"SIGTERM: exit {code}")
        if psutil.pid_exists(line["pid"]):
            raise RuntimeError(f"python process {line['pid']} outlived the stop")
        leftovers = list(self.tmpdir.glob("_MEI*"))
        if self.shm_tmpdir is not None:
            leftovers += list(self.shm_tmpdir.glob("_MEI*"))
        if leftovers:
            raise RuntimeError(f"left unpacked: {[p.name for p in leftovers]}")
        return Sample(
            ready_ms=(ready["at"] - started) * 1000,
            health_ms=(health_at - started) * 1000,
            rss_mib=rss,
            boot_rss_mib=boot_rss,
            stop_ms=stop_ms,
        )

    @staticmethod
    def _ensure_stopped(proc: subprocess.Popen) -> None:
        """After a failure: stop the process and whatever it spawned, by pid."""
        if proc.poll() is not None:
            return
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


# --------------------------------------------------------------------------- report


def _median_range(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    low, mid, high = (format(v, fmt) for v in (min(values), statistics.median(values), max(values)))
    return f"{mid} ({low}-{high})"


def render(cells: dict, variants: list[Variant], runs: int, header: list[str]) -> str:
    lines = list(header)
    lines.append("")
    columns = (
        f"  {'variant':<36} {'data dir':<9} {'ready ms':>19} {'health ms':>19} "
        f"{'idle RSS MiB':>17} {'stop ms':>15} {'errors':>6}"
    )
    lines.append(columns)
    for variant in variants:
        for state in STATES:
            cell = cells[(variant.key, state)]
            s = cell.samples
            rss = _median_range([x.rss_mib for x in s], ".1f")
            lines.append(
                f"  {variant.label:<36} {state:<9} "
                f"{_median_range([x.ready_ms for x in s], '.0f'):>19} "
                f"{_median_range([x.health_ms for x in s], '.0f'):>19} "
                f"{rss:>17} {_median_range([x.stop_ms for x in s], '.0f'):>15} "
                f"{len(cell.errors):>6}"
            )
    boot = [
        x.boot_rss_mib
        for key in ("exe", "exe-shm")
        for state in STATES
        for x in cells.get((key, state), Cell()).samples
        if x.boot_rss_mib is not None
    ]
    lines.append("")
    lines.append(
        f"  median (min-max) of {runs} run(s) per row; ready/health from spawn; idle "
        f"RSS of the Python process {IDLE_S:.0f} s after ready"
    )
    if boot:
        lines.append(
            f"  one-file bootloader (parent of the Python process): RSS median "
            f"{statistics.median(boot):.1f} MiB, not included above"
        )
    errors = [(key, e) for key, cell in cells.items() for e in cell.errors]
    if errors:
        lines.append("")
        lines.append("  ERRORS:")
        for (variant, state), error in errors:
            lines.append(f"    {variant}/{state}: {error.splitlines()[0]}")
    return "\n".join(lines)


def measure(bench: Bench, variants: list[Variant], runs: int, cells: dict, began: float) -> None:
    """Fill ``cells``: ``runs`` rounds over every variant and data-dir state, interleaved."""
    # One start per variant onto its "migrated" folder: it migrates it (and warms caches: the
    # .pyc of the warm variant, the page cache for the executable). Not measured.
    migrated = {}
    for variant in variants:
        migrated[variant.key] = bench.work / f"migrated-{variant.key}"
        try:
            bench.start_once(variant, migrated[variant.key])
        except Exception as exc:  # noqa: BLE001 - reported, and the exit status says so
            cells[(variant.key, "migrated")].errors.append(f"preparing: {exc}")
    for run in range(runs):
        for variant in variants:
            for state in STATES:
                cell = cells[(variant.key, state)]
                if state == "fresh":
                    data_dir = bench.work / f"fresh-{variant.key}-{run}"
                else:
                    data_dir = migrated[variant.key]
                try:
                    cell.samples.append(bench.start_once(variant, data_dir))
                except Exception as exc:  # noqa: BLE001 - reported below
                    cell.errors.append(str(exc))
                if state == "fresh":
                    shutil.rmtree(data_dir, ignore_errors=True)
        print(
            f"bench-startup: run {run + 1}/{runs} done ({time.monotonic() - began:.0f} s)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=7, help="starts per variant and state")
    parser.add_argument(
        "--exe",
        type=Path,
        default=None,
        help="the sidecar executable (default dist/local-data-service-<triple>)",
    )
    parser.add_argument("--no-exe", action="store_true", help="benchmark python -m app only")
    parser.add_argument(
        "--rebuild-stale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rebuild dist/'s executable when older than its sources",
    )
    parser.add_argument(
        "--variants",
        default=",".join(v.key for v in VARIANTS),
        help="comma-separated subset of: " + ", ".join(v.key for v in VARIANTS),
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH",
    )
    args = parser.parse_args(argv)

    wanted = {v.strip() for v in args.variants.split(",") if v.strip()}
    if args.no_exe:
        wanted -= {"exe", "exe-shm"}
    if "exe-shm" in wanted and not (SHM.is_dir() and os.access(SHM, os.W_OK)):
        print("bench-startup: no writable /dev/shm; the exe-shm variant is left out", flush=True)
        wanted.discard("exe-shm")
    if "peer" in wanted and importlib.util.find_spec("fastapi") is None:
        if args.variants != parser.get_default("variants"):
            parser.error(
                "the peer variant needs requirements-bench.txt (make bench-startup installs it)"
            )
        print("bench-startup: FastAPI is not installed; the peer variant is left out", flush=True)
        wanted.discard("peer")
    unknown = wanted - {v.key for v in VARIANTS}
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    variants = [v for v in VARIANTS if v.key in wanted]

    exe = None
    build_note = "not benchmarked"
    if wanted & {"exe", "exe-shm"}:
        exe = (args.exe or default_exe()).resolve()
        build_note = ensure_exe(exe, args.rebuild_stale) if args.exe is None else f"given {exe}"

    load_before = os.getloadavg()
    cells = {(v.key, s): Cell() for v in variants for s in STATES}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        bench = Bench(Path(tmp), exe)
        try:
            measure(bench, variants, args.runs, cells, began)
        finally:
            if bench.shm_tmpdir is not None:
                shutil.rmtree(bench.shm_tmpdir, ignore_errors=True)
    load_after = os.getloadavg()

    import flask_openapi3
    import PyInstaller

    import alembic

    exe_size = (
        f"{sum(p.stat().st_size for p in exe.parent.rglob('*') if p.is_file()) / 1e6:.1f} MB, "
        if exe and exe.is_file()
        else ""
    )
    header = [
        "bench-startup: spawn -> ready line, spawn -> first health answer, idle RSS, stop "
        "(python -m app serve vs the sidecar executable and the FastAPI peer)",
        f"  Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); flask-openapi3 {flask_openapi3.__version__}, "
        f"alembic {alembic.__version__}; SQLite data dir on {tempfile.gettempdir()}",
        f"  executable: {build_note} ({exe_size}PyInstaller {PyInstaller.__version__} one-dir, "
        f"no UPX)",
        "  data dir: fresh = empty folder (migrates from empty, creates the local superuser); "
        "migrated = already at head",
        "  variants: warm .pyc = the repo's __pycache__ as left by earlier runs; no .pyc at all = "
        "PYTHONPYCACHEPREFIX=<new empty dir> + PYTHONDONTWRITEBYTECODE=1 (stdlib, dependencies "
        "and project compiled from source every start); fresh source copy = -B on a copy of "
        "app/ services/ alembic/ without __pycache__ (dependencies' .pyc warm)",
        f"  load average before/after: {load_before[0]:.2f}/{load_after[0]:.2f} "
        f"(other processes on this machine skew the numbers); {args.runs} run(s), "
        f"{time.monotonic() - began:.0f} s in all",
    ]
    text = render(cells, variants, args.runs, header)
    print()
    print(text)
    out = None
    if not args.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS_DIR / f"startup-{stamp}.txt"
        out.write_text(text + "\n", encoding="utf-8")
        print(f"\nwritten to {out.relative_to(REPO)}")
    ok = not any(cell.errors for cell in cells.values())
    if args.json is not None:
        write_json(args.json, cells, variants, args.runs, ok, (load_before[0], load_after[0]), out)
    return 0 if ok else 1


def write_json(
    path: Path,
    cells: dict,
    variants: list[Variant],
    runs: int,
    ok: bool,
    loads: tuple[float, float],
    text_file: Path | None,
) -> None:
    """The figures for bench/bench_all.py: per variant and data-dir state, medians and ranges."""

    def stats(values: list[float]) -> dict | None:
        if not values:
            return None
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "values": values,
        }

    out = {}
    for variant in variants:
        for state in STATES:
            cell = cells[(variant.key, state)]
            s = cell.samples
            out[f"{variant.key}/{state}"] = {
                "variant": variant.key,
                "state": state,
                "label": variant.label,
                "ready_ms": stats([x.ready_ms for x in s]),
                "health_ms": stats([x.health_ms for x in s]),
                "rss_mib": stats([x.rss_mib for x in s]),
                "stop_ms": stats([x.stop_ms for x in s]),
                "errors": cell.errors,
            }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "bench": "startup",
                "ok": ok,
                "runs": runs,
                "cells": out,
                "idle_s": IDLE_S,
                "load_average": list(loads),
                "cpus": os.cpu_count(),
                "text_file": str(text_file.relative_to(REPO)) if text_file else None,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    sys.exit(main())
