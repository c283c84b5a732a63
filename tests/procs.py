"""A service process for tests that start, kill and restart it (`python -m app serve`)."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 90.0  # a loaded 2-core CI machine migrating MariaDB from empty took over 30 s


class Service:
    """One `python -m app serve --port 0` process on ``data_dir`` (or ``database_url``); always
    reaped by stop()."""

    def __init__(
        self,
        data_dir: Path,
        stderr_path: Path,
        *,
        database_url: str | None = None,
        args: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
    ) -> None:
        # ``prefix`` runs the command through another that execs it (e.g. ``nsenter``), so the
        # process keeps its pid and the ready line's pid still matches.
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
        if database_url:
            env["DATABASE_URL"] = database_url
        self._stderr = open(stderr_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                *prefix,
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
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.stderr_path = stderr_path
        try:
            self.ready = self._read_ready()
        except BaseException:
            self.stop()  # idempotent: a no-op when _read_ready already stopped it
            raise
        self.host, self.port = "127.0.0.1", self.ready["port"]

    def _read_ready(self) -> dict:
        # select first: a service hung in start-up must fail the test, not hang it.
        readable, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT)
        line = self.proc.stdout.readline() if readable else b""
        if not line:
            self.stop()  # reap it first, so the stderr file is complete
            raise AssertionError(
                f"service gave no ready line (exit {self.proc.returncode}); stderr:\n"
                + self.stderr_path.read_text(errors="replace")[-3000:]
            )
        ready = json.loads(line)
        assert ready["event"] == "ready" and ready["pid"] == self.proc.pid, ready
        return ready

    def kill9(self) -> int:
        """SIGKILL the service and reap it; returns its exit status."""
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Make sure the process is gone and every pipe and file is closed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self._stderr.close()

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        timeout: float = 60.0,
        headers: dict | None = None,
    ) -> tuple[int, object]:
        """One request on a new connection: (status, parsed JSON body)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body)
            conn.request(
                method,
                path,
                body=payload,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()


def start_script(data_dir: Path) -> str:
    """The opening of a script for ``run_json``: ``settings`` for ``data_dir`` and ``revision``,
    its database prepared as a start prepares it (the fast path once a full check passed)."""
    return (
        "import json, sys\n"
        "from services.config import load_settings\n"
        "from services.lifecycle import prepare_database\n"
        f"settings = load_settings(environ={{'DATA_DIR': {str(data_dir)!r}}})\n"
        "revision = prepare_database(settings)\n"
    )


def run_json(script: str, *args: str):
    """What ``script`` prints as JSON, run by a new interpreter (nothing imported yet)."""
    out = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def started_once(data_dir: Path):
    """The settings of ``data_dir``, migrated to head and started once (so the next start of
    it takes the fast path)."""
    from services.config import load_settings
    from services.db import migrations
    from services.lifecycle import prepare_database

    settings = load_settings(environ={"DATA_DIR": str(data_dir)})
    migrations.upgrade(settings.database)
    prepare_database(settings)
    return settings
