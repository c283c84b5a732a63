"""Tools for the fault tests (tests/harness/test_faults.py): private mounts, open-writer probes,
aimed kills and schema snapshots.

Tiny and read-only filesystems are mounts inside a private mount namespace (``unshare -m``) held
open by a sleeping process; the service runs inside it through ``nsenter``, and the test reaches
its files through ``/proc/<holder>/root``. Nothing is mounted in the test's own namespace, so a
crashed test leaves no mount behind: the namespace dies with its last process.

A kill counts as landed inside an operation when, just before SIGKILL, the database showed a
write transaction of that operation still open: for SQLite a POSIX write lock held by the process
on the WAL write-lock byte of the ``-shm`` file (or the RESERVED byte of the database file), read
from ``/proc/locks`` without touching the database; for PostgreSQL a backend of the test's database
holding a transaction id (it has written); for MariaDB an InnoDB transaction that modified rows.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from services.db.urls import DatabaseTarget, sqlite_target

ROOT = Path(__file__).resolve().parents[2]
WAL_WRITE_LOCK = 120  # byte of the -shm file SQLite's WAL writer locks
RESERVED_BYTE = 0x40000001  # byte of the database file a rollback-journal writer locks


class Namespace:
    """A private mount namespace in which ``setup`` (shell, as root) has mounted something."""

    def __init__(self, setup: str) -> None:
        self.proc = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"{setup} && echo mounted && exec sleep 3600",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        readable, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if readable else b""
        if line.strip() != b"mounted":
            self.close()
            raise AssertionError(f"could not set up the mount namespace: {self.errors}")

    @property
    def prefix(self) -> tuple[str, ...]:
        """Run a command inside the namespace (nsenter execs it: the pid stays the same)."""
        return ("nsenter", "-t", str(self.proc.pid), "-m", f"--wd={ROOT}", "--")

    def path(self, inside: Path) -> Path:
        """Where the test reaches ``inside`` (an absolute path in the namespace)."""
        return Path(f"/proc/{self.proc.pid}/root") / Path(inside).relative_to("/")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.errors = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- open writers


def _locks_of(pid: int) -> list[tuple[int, int, int]]:
    """(inode, start, end) of every POSIX write lock ``pid`` holds (not waits for)."""
    found = []
    with open("/proc/locks", encoding="ascii") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) < 8 or parts[1] == "->" or parts[1] != "POSIX" or parts[3] != "WRITE":
                continue
            if int(parts[4]) != pid:
                continue
            inode = int(parts[5].rsplit(":", 1)[1])
            end = (1 << 63) if parts[7] == "EOF" else int(parts[7])
            found.append((inode, int(parts[6]), end))
    return found


def sqlite_writing(pid: int, database: Path) -> bool:
    """Does ``pid`` hold the write lock of the SQLite database at ``database``?"""
    wanted = []
    for suffix, byte in (("-shm", WAL_WRITE_LOCK), ("", RESERVED_BYTE)):
        try:
            wanted.append((os.stat(f"{database}{suffix}").st_ino, byte))
        except FileNotFoundError:
            continue
    return any(
        inode == ino and start <= byte <= end
        for inode, start, end in _locks_of(pid)
        for ino, byte in wanted
    )


class WriterProbe:
    """Says whether a write transaction of the operation under test is open right now."""

    def __init__(self, target: DatabaseTarget) -> None:
        self.target = target
        self.engine = (
            None
            if target.family == "sqlite"
            else sa.create_engine(target.sa_url, poolclass=NullPool)
        )
        self.connection = self.engine.connect() if self.engine is not None else None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.engine.dispose()

    def writing(self, pid: int, sqlite_files: list[Path]) -> bool:
        family = self.target.family
        if family == "sqlite":
            return any(sqlite_writing(pid, path) for path in sqlite_files)
        conn = self.connection
        database = self.target.sa_url.database
        if family == "postgresql":
            sql = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            )
            found = conn.execute(sa.text(sql), {"db": database}).scalar_one()
        else:
            # INNODB_TRX does not always list a session's transaction while its statements run
            # (seen on MariaDB with multi-row INSERTs): a write statement in progress counts too.
            sql = (
                "SELECT (SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
                "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                "WHERE t.trx_rows_modified > 0 AND (p.DB = :db OR p.DB LIKE :apps)) + "
                "(SELECT COUNT(*) FROM information_schema.PROCESSLIST p "
                "WHERE p.ID <> CONNECTION_ID() AND p.COMMAND = 'Query' "
                "AND (p.DB = :db OR p.DB LIKE :apps) "
                "AND UPPER(LEFT(LTRIM(p.INFO), 6)) IN ('INSERT', 'UPDATE', 'DELETE'))"
            )
            apps = database.replace("_", r"\_") + r"\_\_%"
            found = conn.execute(sa.text(sql), {"db": database, "apps": apps}).scalar_one()
        conn.rollback()  # no snapshot held between probes
        return found > 0


def kill9(proc: subprocess.Popen) -> bool:
    """SIGKILL ``proc`` and reap it; True when it was still running (the kill landed)."""
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=15)
    return running and proc.returncode == -signal.SIGKILL


# ----------------------------------------------------------------------------- snapshots


def schema_of(target: DatabaseTarget, schema: str | None = None) -> dict[str, tuple[str, ...]]:
    """``{table: column names}`` of one SQLite file, PostgreSQL schema or database."""
    engine = sa.create_engine(target.sa_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                table: tuple(sorted(c["name"] for c in inspector.get_columns(table, schema)))
                for table in inspector.get_table_names(schema)
            }
    finally:
        engine.dispose()


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, from a process that is not the service (the
    file's writer is dead or stopped). Opened as a restart would open it (a WAL left by a killed
    writer is recovered; a cleanly closed WAL database needs its -shm made), then query_only."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA query_only = 1")
        return "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def app_target(
    main: DatabaseTarget, data_dir: Path, model_id: str
) -> tuple[DatabaseTarget, str | None]:
    """Where a model's app database lives: (target, schema) to inspect and count."""
    from services.appdb import store

    if main.family == "sqlite":
        return sqlite_target(data_dir / "apps" / f"{model_id}.db"), None
    if main.family == "postgresql":
        return main, store.database_name(model_id=model_id)
    return main, store.server_database_name(main_database=main.sa_url.database, model_id=model_id)


def wait_for(predicate, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def writer_window(probe: WriterProbe, pid: int, files: list[Path], done) -> float:
    """Watch an operation to its end (``done()``); how long its write transaction was open."""
    first = last = None
    while not done():
        if probe.writing(pid, files):
            last = time.monotonic()
            first = first or last
        time.sleep(0.001)
    return 0.0 if first is None else last - first


def aim(probe: WriterProbe, pid: int, files: list[Path], window: float, rng, done) -> bool:
    """Wait for the operation's write transaction to open, sleep a uniform fraction of its
    measured length ``window``, then say whether it is still open (just before the kill)."""
    deadline = time.monotonic() + 60
    while not probe.writing(pid, files):
        if done() or time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 1) * window)
    return probe.writing(pid, files)


def integrity_inside(ns: Namespace, path: Path) -> str:
    """integrity() run inside the namespace (SQLite resolves /proc/<pid>/root, a symlink, back
    to the test's own namespace, so the file is opened from a process in there)."""
    script = (
        "import sys; from tests.harness.faultkit import integrity; print(integrity(sys.argv[1]))"
    )
    done = subprocess.run(
        [*ns.prefix, sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() or done.stderr.strip()
