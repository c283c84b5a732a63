"""The desktop shell's view: spawn, ready line, health, writes, stop, restart, guards and
parent death."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DATA_DIR", "LAUNCH_TOKEN", "AUTH_REQUIRED")
    }
    env.update(extra)
    return env


class Service:
    """One `python -m app serve` process and what it printed."""

    def __init__(self, data_dir: Path, *args: str, env: dict | None = None) -> None:
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
                *args,
            ],
            cwd=ROOT,
            env=env or _env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError(f"no ready line: {self.proc.stderr.read()}")
        self.ready = json.loads(line)
        self.url = self.ready["url"]

    def call(self, method: str, path: str, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response), dict(response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.load(exc), dict(exc.headers)

    def stop(self, sig=signal.SIGTERM, timeout: float = 5) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def parent():
    """A process standing in for the desktop app."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_desktop_shell_lifecycle(tmp_path, parent):
    data = tmp_path / "data"
    service = Service(data, "--parent-pid", str(parent.pid))
    try:
        ready = service.ready
        assert ready["event"] == "ready" and ready["pid"] == service.proc.pid
        assert ready["url"] == f"http://127.0.0.1:{ready['port']}"
        assert service.call("GET", "/api/v1/utils/health-check/")[:2] == (200, True)
        titles = [f"item {i}" for i in range(5)]
        for title in titles:
            assert service.call("POST", "/api/v1/items/", {"title": title})[0] == 200

        second = subprocess.run(
            [sys.executable, "-m", "app", "serve", "--port", "0", "--data-dir", str(data)],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0 and second.stdout == ""
        assert second.stderr.strip().splitlines() == [
            f"error: another instance is already serving data dir {data.resolve()}"
        ]

        started = time.monotonic()
        assert service.stop() == 0
        assert time.monotonic() - started < 5
    finally:
        service.close()
    # A clean stop folds the WAL into the file.
    assert not (data / "app.db-wal").exists() or (data / "app.db-wal").stat().st_size == 0

    service = Service(data, "--parent-pid", str(parent.pid))
    try:
        status, page, _ = service.call("GET", "/api/v1/items/?limit=100")
        assert sorted(i["title"] for i in page["data"]) == titles
        parent.kill()
        parent.wait()
        started = time.monotonic()
        assert service.proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2.5  # polls every 0.5 s; 2 s promised plus slack
    finally:
        service.close()


def test_host_and_origin_checks(tmp_path):
    service = Service(tmp_path)
    try:
        port = service.ready["port"]
        for host in (
            "evil.example",
            f"evil.example:{port}",
            "127.0.0.1:1",
            f"localhost.evil:{port}",
        ):
            status, body, _ = service.call(
                "GET", "/api/v1/utils/health-check/", headers={"Host": host}
            )
            assert (status, body) == (403, {"detail": "Host not allowed"}), host
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            assert (
                service.call("GET", "/api/v1/utils/health-check/", headers={"Host": host})[0] == 200
            )

        status, body, headers = service.call(
            "POST", "/api/v1/items/", {"title": "x"}, headers={"Origin": "http://evil.example"}
        )
        assert (status, body) == (403, {"detail": "Origin not allowed"})
        assert "Access-Control-Allow-Origin" not in headers
        status, _, headers = service.call(
            "POST", "/api/v1/items/", {"title": "x"}, headers={"Origin": "tauri://localhost"}
        )
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "tauri://localhost"
        status, _, headers = service.call(
            "GET", "/api/v1/items/", headers={"Origin": "http://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in headers  # the browser will not hand it over
        assert service.stop() == 0
    finally:
        service.close()


def test_launch_token_is_required_on_every_request(tmp_path):
    service = Service(tmp_path, env=_env(LAUNCH_TOKEN="s3cret-launch-token"))
    try:
        for path in ("/api/v1/utils/health-check/", "/api/v1/items/"):
            assert service.call("GET", path)[0] == 403
            assert service.call("GET", path, headers={"X-Launch-Token": "wrong"})[0] == 403
            assert (
                service.call("GET", path, headers={"X-Launch-Token": "s3cret-launch-token"})[0]
                == 200
            )
        assert service.stop() == 0
    finally:
        service.close()


def test_status_and_logs(tmp_path):
    service = Service(tmp_path, env=_env(FIRST_SUPERUSER_PASSWORD="do-not-log-me-123"))
    try:
        status, body, _ = service.call("GET", "/api/v1/utils/status")
        assert status == 200
        assert body["schema_revision"] == service.ready["schema_revision"]
        assert body["database"] == "sqlite" and body["auth_required"] is False
        assert body["schema_in_parity"] is True and body["data_dir"] == str(tmp_path.resolve())
        assert body["uptime_seconds"] >= 0 and body["version"]
        login = urllib.request.Request(
            service.url + "/api/v1/login/access-token",
            method="POST",
            data=b"username=admin%40example.com&password=do-not-log-me-123",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            token = json.load(response)["access_token"]
        assert service.stop() == 0
    finally:
        service.close()
    log_text = (tmp_path / "logs" / "service.log").read_text(encoding="utf-8")
    assert "GET /api/v1/utils/status 200" in log_text
    assert "POST /api/v1/login/access-token 200" in log_text
    assert "do-not-log-me-123" not in log_text and token not in log_text


def test_log_level_option(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        urllib.request.urlopen(ready["url"] + "/api/v1/utils/health-check/", timeout=5).close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert "health-check" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("case", ["port", "data-dir", "config-key", "database-url", "log-level"])
def test_bad_settings_stop_start_up_before_writing(tmp_path, case):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    data = tmp_path / "data"
    args, env, expect = [], _env(), ""
    if case == "port":
        args, expect = ["--port", "70000"], "port must be between 0 and 65535"
    elif case == "data-dir":
        data, expect = blocker / "data", "is not usable"
    elif case == "config-key":
        data.mkdir()
        (data / "config.json").write_text('{"prot": 1430}', encoding="utf-8")
        expect = "unknown setting(s) prot"
    elif case == "database-url":
        env, expect = _env(DATABASE_URL="postgresql://"), "needs a host and a database name"
    else:
        args, expect = ["--log-level", "LOUD"], "log level must be one of"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--data-dir", str(data), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_pending_migration_is_backed_up_first(tmp_path):
    migrate = subprocess.run(
        [sys.executable, "-m", "app", "migrate", "0001", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr
    service = Service(tmp_path)
    try:
        assert service.ready["schema_revision"] != "0001"
        assert service.stop() == 0
    finally:
        service.close()
    backups = list((tmp_path / "backups").glob("app-rev0001-*.db"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()


def test_refuses_to_serve_a_schema_out_of_parity(tmp_path):
    first = Service(tmp_path)
    assert first.stop() == 0
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("ALTER TABLE item ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    conn.close()
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "schema parity check failed" in result.stderr and "item.priority" in result.stderr


def test_stop_line_on_stdin_stops_gracefully(tmp_path):
    # Windows has no SIGTERM: the parent can write "stop" (or close stdin) instead.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--stop-on-stdin-eof",
        ],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        json.loads(proc.stdout.readline())
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()
