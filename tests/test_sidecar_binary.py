"""The desktop shell's view of the BUILT sidecar: the executable of the PyInstaller one-dir bundle.

The executable is built from sidecar.spec once per set of sources (``dist/`` is reused when it
is newer than every source file that goes into it; otherwise a build kept in the user's cache
folder under a digest of the sources, see bench/sidecar_build.py), then driven the way Tauri
drives it: spawn with ``--port 0 --parent-pid``, read the ready line, poll health, write,
SIGTERM, restart, a second instance, the parent's death, and the loopback guards. A missing
PyInstaller fails these tests (requirements-dev.txt installs it); nothing here is skipped on
Linux or macOS.

Under pytest-xdist the workers share one build: the first takes a file lock and builds, the
others wait for it and reuse the result.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from filelock import FileLock

from bench.sidecar_build import REPO as ROOT
from bench.sidecar_build import (
    build_cache,
    exe_path,
    newest_source,
    pyinstaller_command,
    source_digest,
)

BUILD_TIMEOUT_S = 900
READY_TIMEOUT_S = 60
HEALTH = "/api/v1/utils/health-check/"
ITEMS = "/api/v1/items/"
ANOTHER_INSTANCE = "another instance is already serving data dir"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform == "win32",
        reason="drives POSIX signals (SIGTERM); the Windows build is not tested",
    ),
]


# --------------------------------------------------------------------------- the executable


def build(dist: Path, work: Path, log: Path) -> Path:
    """Run PyInstaller on sidecar.spec into ``dist``; fail the test (never skip) when it cannot."""
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail(
            "PyInstaller is not installed in this environment; requirements-dev.txt pins "
            "it (make install, or pip install -r requirements-dev.txt)",
            pytrace=False,
        )
    command = pyinstaller_command(dist, work)
    started = time.monotonic()
    with open(log, "wb") as out:
        result = subprocess.run(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    seconds = time.monotonic() - started
    exe = exe_path(dist)
    if result.returncode != 0 or not exe.is_file():
        tail = log.read_text(errors="replace")[-4000:]
        pytest.fail(
            f"PyInstaller failed (exit {result.returncode}, {seconds:.0f} s):\n{tail}",
            pytrace=False,
        )
    (dist / "build-seconds.txt").write_text(f"{seconds:.1f}\n")
    return exe


@pytest.fixture(scope="session")
def sidecar_exe() -> Path:
    """The executable: dist/'s when up to date, else one built once for the whole session."""
    prebuilt = exe_path(ROOT / "dist")
    newest, _ = newest_source()
    if prebuilt.is_file() and prebuilt.stat().st_mtime > newest:
        return prebuilt
    # Builds are kept by a digest of their sources outside the checkout: a session (or a fresh
    # clone) whose sources equal an earlier build's reuses it; any change builds anew.
    cache = build_cache()
    cache.mkdir(parents=True, exist_ok=True)
    folder = cache / source_digest()
    exe = exe_path(folder / "dist")
    # Another worker of this session failed to build it: fail alike rather than build again.
    failed = folder / f"FAILED-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"
    with FileLock(str(cache / "build.lock")):
        if exe.is_file() and (folder / "COMPLETE").exists():
            return exe
        if failed.exists():
            pytest.fail(f"the sidecar build failed:\n{failed.read_text()}", pytrace=False)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            exe = build(folder / "dist", folder / "build", folder / "pyinstaller.log")
        except BaseException as exc:
            failed.write_text(str(exc)[-4000:] or type(exc).__name__)
            raise
        shutil.rmtree(folder / "build", ignore_errors=True)
        (folder / "COMPLETE").touch()
        for other in cache.iterdir():  # one build kept: the current one
            if other.is_dir() and other != folder:
                shutil.rmtree(other, ignore_errors=True)
        return exe


# --------------------------------------------------------------------------- one running sidecar


def _env(tmpdir: Path, **extra: str) -> dict:
    """The caller's environment without settings that would point the service elsewhere.

    TMPDIR is the test's own, so it can be checked that nothing is unpacked there (_MEI*).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "DATA_DIR",
            "DATABASE_NAME",
            "LAUNCH_TOKEN",
            "AUTH_REQUIRED",
            "HOST",
            "PORT",
            "LOG_LEVEL",
            "SIDECAR_TARGET_TRIPLE",
        )
    }
    tmpdir.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(tmpdir), **extra)
    return env


def call(port: int, method: str, path: str, body=None, headers: dict | None = None):
    """(status, decoded JSON body or raw text) of one request to 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        all_headers = {"Content-Type": "application/json"} if payload is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        raw = response.read().decode("utf-8", errors="replace")
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw
    finally:
        connection.close()


class Sidecar:
    """The executable serving one data dir, spawned as the desktop shell spawns it."""

    def __init__(self, exe: Path, data_dir: Path, tmpdir: Path, *args: str, **env: str) -> None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        self.log = tmpdir.parent / f"stderr-{time.monotonic_ns()}.log"
        self._stderr = open(self.log, "wb")  # noqa: SIM115 - closed in close()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--port", "0", "--data-dir", str(data_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=_env(tmpdir, **env),
        )
        try:
            self.ready = self._read_ready()
        except BaseException:
            self.close()
            raise
        self.port = self.ready["port"]

    def _read_ready(self) -> dict:
        lines: list[bytes] = []
        reader = threading.Thread(
            target=lambda: lines.append(self.proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(READY_TIMEOUT_S)
        if not lines or not lines[0]:
            state = "no ready line" if not lines else "stdout closed before the ready line"
            raise AssertionError(
                f"{state} within {READY_TIMEOUT_S} s (exit {self.proc.poll()}); "
                f"stderr:\n{self.stderr()[-3000:]}"
            )
        self.ready_seconds = time.monotonic() - self.started
        return json.loads(lines[0])

    def stderr(self) -> str:
        self._stderr.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM to the spawned process (the service itself); (exit code, seconds)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        """Make sure nothing is left running, whatever pid the ready line named."""
        python_pid = getattr(self, "ready", {}).get("pid")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if python_pid and psutil.pid_exists(python_pid):
            try:
                psutil.Process(python_pid).kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def parent():
    """A process standing in for the desktop app (the value of --parent-pid)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def sidecars():
    """Every sidecar a test spawns, closed (never left running) when it ends."""
    spawned: list[Sidecar] = []
    yield spawned
    for sidecar in spawned:
        sidecar.close()


def _spawn(sidecars, *args, **kwargs) -> Sidecar:
    sidecar = Sidecar(*args, **kwargs)
    sidecars.append(sidecar)
    return sidecar


def _unpacked(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.glob("_MEI*"))


# --------------------------------------------------------------------------- tests


def test_lifecycle_ready_health_writes_stop_restart(sidecar_exe, tmp_path, parent, sidecars):
    from services.db.migrations import head_revision

    data, tmpdir = tmp_path / "data", tmp_path / "tmp"
    service = _spawn(sidecars, sidecar_exe, data, tmpdir, "--parent-pid", str(parent.pid))
    ready = service.ready
    assert ready["event"] == "ready"
    assert ready["url"] == f"http://127.0.0.1:{ready['port']}"
    assert ready["data_dir"] == str(data.resolve())
    # Alembic found alembic.ini, env.py and versions/ inside the bundle and migrated to head.
    assert ready["schema_revision"] == head_revision()
    # One-dir: the process the shell spawned is the service, and nothing is unpacked per start.
    assert ready["pid"] == service.proc.pid
    assert _unpacked(tmpdir) == []

    assert call(service.port, "GET", HEALTH) == (200, True)
    titles = [f"item {i}" for i in range(5)]
    for title in titles:
        status, item = call(service.port, "POST", ITEMS, {"title": title})
        assert status == 200 and item["title"] == title
    status, page = call(service.port, "GET", f"{ITEMS}?limit=100")
    assert status == 200 and page["count"] == 5

    code, seconds = service.stop()
    assert code == 0 and seconds < 5, service.stderr()[-2000:]
    assert not psutil.pid_exists(ready["pid"])
    assert _unpacked(tmpdir) == []
    assert "stopped cleanly" in service.stderr()

    again = _spawn(sidecars, sidecar_exe, data, tmpdir, "--parent-pid", str(parent.pid))
    assert again.ready["schema_revision"] == ready["schema_revision"]
    # The bundled hash of the schema code let the second start skip the full check.
    assert "schema unchanged since its last full check" in again.stderr()
    assert call(again.port, "GET", HEALTH) == (200, True)
    status, page = call(again.port, "GET", f"{ITEMS}?limit=100")
    assert status == 200 and page["count"] == 5
    assert sorted(item["title"] for item in page["data"]) == titles
    assert again.stop()[0] == 0
    assert (data / "logs" / "service.log").is_file()


def test_second_instance_on_the_same_data_dir_is_refused(sidecar_exe, tmp_path, sidecars):
    data, tmpdir = tmp_path / "data", tmp_path / "tmp"
    first = _spawn(sidecars, sidecar_exe, data, tmpdir)
    second = subprocess.run(
        [str(sidecar_exe), "serve", "--port", "0", "--data-dir", str(data)],
        env=_env(tmpdir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert second.stdout == ""
    assert f"{ANOTHER_INSTANCE} {data.resolve()}" in second.stderr
    # The first one is untouched and still serving.
    assert call(first.port, "GET", HEALTH) == (200, True)
    assert first.stop()[0] == 0


def test_parent_death_stops_the_service(sidecar_exe, tmp_path, parent, sidecars):
    data, tmpdir = tmp_path / "data", tmp_path / "tmp"
    service = _spawn(sidecars, sidecar_exe, data, tmpdir, "--parent-pid", str(parent.pid))
    assert call(service.port, "GET", HEALTH) == (200, True)
    parent.kill()
    parent.wait()  # reaped: gone, not a zombie
    started = time.monotonic()
    code = service.proc.wait(timeout=10)
    seconds = time.monotonic() - started
    assert seconds < 2, f"exited {seconds:.2f} s after the parent died"
    assert code == 0
    assert not psutil.pid_exists(service.ready["pid"])
    assert f"parent process {parent.pid} is gone" in service.stderr()


def test_foreign_host_and_origin_are_refused(sidecar_exe, tmp_path, sidecars):
    service = _spawn(sidecars, sidecar_exe, tmp_path / "data", tmp_path / "tmp")
    port = service.port
    # DNS rebinding: a foreign name, or loopback on another port.
    assert call(port, "GET", HEALTH, headers={"Host": f"evil.example:{port}"}) == (
        403,
        {"detail": "Host not allowed"},
    )
    assert call(port, "GET", HEALTH, headers={"Host": f"127.0.0.1:{port + 1}"})[0] == 403
    assert call(port, "GET", HEALTH, headers={"Host": f"localhost:{port}"}) == (200, True)
    # A write from a page in the user's browser.
    status, body = call(port, "POST", ITEMS, {"title": "x"}, {"Origin": "http://evil.example"})
    assert status == 403 and body == {"detail": "Origin not allowed"}
    assert call(port, "POST", ITEMS, {"title": "x"}, {"Origin": "tauri://localhost"})[0] == 200
    status, page = call(port, "GET", ITEMS)
    assert status == 200 and page["count"] == 1


def test_launch_token_is_required_when_the_parent_sets_one(sidecar_exe, tmp_path, sidecars):
    token = "t0k3n-" + os.urandom(8).hex()
    service = _spawn(sidecars, sidecar_exe, tmp_path / "data", tmp_path / "tmp", LAUNCH_TOKEN=token)
    assert call(service.port, "GET", HEALTH)[0] == 403
    assert call(service.port, "GET", HEALTH, headers={"X-Launch-Token": "wrong"})[0] == 403
    assert call(service.port, "GET", HEALTH, headers={"X-Launch-Token": token}) == (200, True)
    status, _ = call(service.port, "POST", ITEMS, {"title": "x"}, {"X-Launch-Token": token})
    assert status == 200


def test_swagger_ui_and_openapi_document_are_bundled(sidecar_exe, tmp_path, sidecars):
    # flask-openapi3 finds the Swagger plugin through importlib.metadata entry points, and the
    # plugin serves its own static files: both must be in the bundle.
    service = _spawn(sidecars, sidecar_exe, tmp_path / "data", tmp_path / "tmp")
    status, page = call(service.port, "GET", "/docs/swagger")
    assert status == 200 and "swagger-ui" in page
    status, css = call(service.port, "GET", "/docs/swagger/css/swagger-ui.css")
    assert status == 200 and len(css) > 1000
    status, document = call(service.port, "GET", "/docs/openapi.json")
    assert status == 200 and ITEMS in document["paths"]
    assert "Warning: plugin" not in service.stderr()


def test_the_console_and_metrics_are_bundled(sidecar_exe, tmp_path, sidecars):
    # The console's files are data (sidecar.spec lists app/static/console); prometheus_client
    # is imported by name.
    service = _spawn(sidecars, sidecar_exe, tmp_path / "data", tmp_path / "tmp")
    status, page = call(service.port, "GET", "/")
    assert status == 200 and "App Previewer" in page and "/console/js/app.js" in page
    status, script = call(service.port, "GET", "/console/js/rows.js")
    assert status == 200 and "entityPlan" in script
    status, metrics = call(service.port, "GET", "/metrics")
    assert (
        status == 200 and 'http_requests_total{method="GET",route="/",status="200"} 1.0' in metrics
    )


def test_seeding_with_faker_works_in_the_bundle(sidecar_exe, tmp_path, sidecars):
    # Faker is imported lazily and, frozen, finds its providers and locales by globbing
    # sys._MEIPASS/faker/providers/**/__init__.py: sidecar.spec ships empty marker files for
    # that (the modules are in the archive). Without them seeding fails only in the bundle.
    from tests.api.test_models import DB, SHOP, M

    service = _spawn(sidecars, sidecar_exe, tmp_path / "data", tmp_path / "tmp")
    status, body = call(service.port, "POST", f"{M}/", SHOP)
    assert status == 200, body
    seed = {"max_instances_per_entity": 3, "seed": 7, "locale": "de_DE"}
    status, body = call(service.port, "POST", f"{DB}/seed", seed)
    assert status == 200, (body, service.stderr()[-2000:])
    assert body["entities_created"] == 15
    status, page = call(service.port, "GET", f"{DB}/entities/customer")
    assert status == 200 and all("@" in row["email"] for row in page["data"])
