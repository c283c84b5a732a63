"""Plain Alembic behaves: it finds the database `make run` uses, says which, logs what it does,
creates nothing for a read-only command, and writes offline SQL a DBA can apply."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg2
import pymysql
import pytest
from pymysql.constants import CLIENT

from services.config import default_data_dir, development_data_dir
from services.db import migrations
from services.db.parity import run_parity
from services.db.urls import DatabaseTarget

ROOT = Path(__file__).resolve().parents[1]
ALEMBIC = Path(sys.executable).with_name("alembic")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    return {**env, **extra}


def _run(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A fresh checkout of the code (no .data): what a developer has after git clone."""
    copy = tmp_path / "checkout"
    ignore = shutil.ignore_patterns(".venv", ".git", ".data", "__pycache__", "tests", "bench")
    shutil.copytree(ROOT, copy, ignore=ignore)
    return copy


def test_the_development_data_rule_is_the_checkouts_data_folder(tmp_path):
    assert development_data_dir(ROOT) == ROOT / ".data"
    assert default_data_dir(ROOT) == ROOT / ".data"
    assert development_data_dir(tmp_path) is None  # elsewhere: the platform's folder
    assert default_data_dir(tmp_path) != tmp_path / ".data"
    # The Makefile keeps no default of its own: without DATA_DIR the CLI applies the rule.
    assert "DATA_DIR ?=" not in (ROOT / "Makefile").read_text(encoding="utf-8")


@pytest.mark.parametrize("args", [["current"], ["history"], ["check"], ["heads"]])
def test_a_read_only_alembic_command_on_a_fresh_checkout_creates_nothing(checkout, args):
    result = _run(checkout, str(ALEMBIC), *args)
    assert not (checkout / ".data").exists(), result.stderr
    if args[0] in ("current", "check"):  # the commands that look at the database
        assert f"database sqlite:///{checkout}/.data/app.db" in result.stderr
        assert "./.data, as make run uses" in result.stderr
        assert "nothing was created" in result.stderr
    if args[0] == "current":
        assert result.returncode == 0 and result.stdout == ""


def test_alembic_and_the_cli_share_the_checkouts_database_and_alembic_logs(checkout):
    up = _run(checkout, str(ALEMBIC), "upgrade", "head")
    assert up.returncode == 0, up.stderr
    head = migrations.head_revision()
    assert "Running upgrade  -> 0001" in up.stderr and f"-> {head}" in up.stderr
    assert (checkout / ".data" / "app.db").exists()

    current = _run(checkout, str(ALEMBIC), "current")
    assert current.stdout.strip() == f"{head} (head)"
    assert f"database sqlite:///{checkout}/.data/app.db" in current.stderr

    same = _run(checkout, sys.executable, "-m", "app", "migrate")
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith(f"already at revision {head}")
    assert str(checkout / ".data" / "app.db") in same.stdout

    back = _run(checkout, sys.executable, "-m", "app", "downgrade", "-1")
    previous = migrations.alembic_config()
    from alembic.script import ScriptDirectory

    down_one = ScriptDirectory.from_config(previous).get_revision(head).down_revision
    assert back.returncode == 0 and f"now at revision {down_one}" in back.stdout, back.stderr


def _make_dry_run(*args: str) -> list[str]:
    result = _run(ROOT, "make", "--no-print-directory", "-n", *args)
    assert result.returncode == 0, result.stderr
    return [line.rstrip() for line in result.stdout.splitlines()]


def test_make_downgrade_goes_back_one_revision_and_emptying_is_a_separate_target():
    assert _make_dry_run("downgrade", "DATA_DIR=/x")[-1].endswith(
        "-m app downgrade -1 --data-dir /x"
    )
    assert _make_dry_run("downgrade")[-1].endswith("-m app downgrade -1")
    empty = _make_dry_run("downgrade-to-empty", "CONFIRM=yes")
    assert empty[-1].endswith("-m app downgrade base")
    assert any("Type yes to go on" in line for line in empty)  # asked unless CONFIRM=yes


def _offline_sql(url: str) -> subprocess.CompletedProcess:
    return _run(ROOT, str(ALEMBIC), "-x", f"url={url}", "upgrade", "head", "--sql")


def _apply(target: DatabaseTarget, script: str) -> None:
    """Run the script as one batch, as a DBA's client would."""
    url = target.sa_url
    if target.family == "postgresql":
        conn = psycopg2.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database
        )
        conn.autocommit = True  # the script has its own BEGIN and COMMIT
        try:
            with conn.cursor() as cursor:
                cursor.execute(script)
        finally:
            conn.close()
        return
    conn = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
        client_flag=CLIENT.MULTI_STATEMENTS,
        autocommit=True,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(script)
            while cursor.nextset():  # each statement's outcome, errors included
                pass
    finally:
        conn.close()


def test_offline_sql_applies_to_an_empty_database_and_is_in_parity(fresh_target):
    """PostgreSQL and MariaDB: the script builds the schema at head; SQLite: a clear refusal."""
    url = fresh_target.sa_url.render_as_string(hide_password=False)
    if fresh_target.family == "sqlite":
        result = _offline_sql(url)
        assert result.returncode != 0
        assert "not available for SQLite" in result.stderr
        assert "alembic upgrade head" in result.stderr
        assert "Traceback" not in result.stderr
        return
    if fresh_target.family == "mysql":
        url = url.replace("mysql+pymysql://", "mariadb+pymysql://", 1)
    result = _offline_sql(url)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE" in result.stdout
    _apply(fresh_target, result.stdout)
    assert migrations.current_revision(fresh_target) == migrations.head_revision()
    report = run_parity(fresh_target)
    assert report.ok, report.render()
