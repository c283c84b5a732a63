"""The command line: migrate, downgrade, parity, serve; failures exit non-zero with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from services.db import migrations
from services.db.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]
HEAD = migrations.head_revision()


def run_app(
    *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -m app ARGS`` from the repository root."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _db_env(target, tmp_path) -> dict:
    return {"DATA_DIR": str(tmp_path), "DATABASE_URL": target.sa_url.render_as_string(False)}


def test_migrate_on_an_empty_data_dir_creates_the_database(tmp_path):
    data = tmp_path / "data"
    first = run_app("migrate", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    assert f"migrated from empty to revision {HEAD}" in first.stdout
    assert (data / "app.db").exists()

    again = run_app("migrate", "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert f"already at revision {HEAD}" in again.stdout

    down = run_app("downgrade", "base", "--data-dir", str(data))
    assert down.returncode == 0 and "now at revision base" in down.stdout

    up = run_app("migrate", "--data-dir", str(data))
    assert up.returncode == 0 and f"migrated from empty to revision {HEAD}" in up.stdout


def test_parity_command_is_clean_on_every_backend(migrated_target, tmp_path):
    result = run_app("parity", env=_db_env(migrated_target, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "parity: OK" in result.stdout
    for check in ("(a)", "(b)", "(c)", "(d)"):
        assert f"checked: {check}" in result.stdout


def test_parity_command_names_a_column_changed_behind_its_back(migrated_target, tmp_path):
    engine = make_engine(migrated_target)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE item ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"))
            conn.execute(sa.text("ALTER TABLE item DROP COLUMN description"))
    finally:
        engine.dispose()
    result = run_app("parity", env=_db_env(migrated_target, tmp_path))
    assert result.returncode == 1
    out = result.stdout
    assert "[database-vs-pydal] item.priority: column set differs" in out
    assert "[database-vs-pydal] item.description: column set differs" in out
    assert "no such column" in out  # the consequence and the fix are spelled out
    assert "Fix: add Field('priority', ...) to PyDAL table 'item'" in out


def test_bad_settings_fail_with_one_line(tmp_path):
    result = run_app("migrate", env={"DATA_DIR": str(tmp_path), "DATABASE_URL": "nosuch://x"})
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unsupported database backend" in result.stderr

    (tmp_path / "config.json").write_text('{"port": 1, "colour": "blue"}', encoding="utf-8")
    result = run_app("migrate", "--data-dir", str(tmp_path))
    assert result.returncode != 0 and "unknown setting(s) colour" in result.stderr
    assert not (tmp_path / "app.db").exists()


def test_plain_alembic_acts_on_the_service_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATA_DIR"] = str(tmp_path)
    alembic = Path(sys.executable).with_name("alembic")
    up = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    current = subprocess.run(
        [str(alembic), "current"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert f"{HEAD} (head)" in current.stdout
    assert run_app("migrate", "--data-dir", str(tmp_path)).stdout.startswith("already at")


def test_serve_prints_one_ready_line_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and isinstance(ready["port"], int)
        assert ready["schema_revision"] == HEAD and ready["pid"] == proc.pid
        assert ready["data_dir"] == str(tmp_path.resolve())
        with urllib.request.urlopen(ready["url"] + "/api/v1/utils/health-check/", timeout=5) as r:
            assert json.load(r) is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # nothing but the ready line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
