"""SQLite writers of one process take turns on a lock, not in SQLite's busy handler
(services/db/writers.py): a writer waits exactly until the one before it ends, never fails on
a lock this process holds, and a transaction left open delays the others only so long."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
import uuid

import pytest

from services.db import migrations, writers
from services.db.dal import close_dal, open_dal
from services.db.urls import sqlite_target


@pytest.fixture
def dal(tmp_path):
    target = sqlite_target(tmp_path / "app.db")
    migrations.upgrade(target)
    db = open_dal(target, pool_size=8)
    yield db
    close_dal(db)


def _no_busy_wait(db) -> None:
    # Without the turns, a writer meeting a held write lock would now fail at once.
    db.executesql("PRAGMA busy_timeout=0")


def _user(db) -> uuid.UUID:
    user_id = uuid.uuid4()
    db.user.insert(id=user_id, email=f"{user_id.hex}@example.com", hashed_password="x")
    return user_id


def _in_thread(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as error:  # noqa: BLE001 - the test asserts on it
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_writer_waits_for_the_open_write_and_goes_as_soon_as_it_commits(dal):
    _no_busy_wait(dal)
    first = _user(dal)  # this thread now holds the write lock, uncommitted
    committed_at: list[float] = []

    def second_writer() -> float:
        _no_busy_wait(dal)
        _user(dal)
        dal.commit()
        return time.monotonic()

    thread, outcome = _in_thread(second_writer)
    time.sleep(0.3)
    assert outcome == []  # waiting, not failed with "database is locked"
    dal.commit()
    committed_at.append(time.monotonic())
    thread.join(10)
    assert not isinstance(outcome[0], Exception), outcome
    assert outcome[0] >= committed_at[0]
    assert outcome[0] - committed_at[0] < 1.0  # woken by the commit, not a timer
    assert dal(dal.user.id == first).count() == 1 and dal(dal.user).count() == 2


def test_many_threads_writing_at_once_never_meet_the_lock(dal):
    threads, per_thread = 8, 25

    def writer() -> int:
        _no_busy_wait(dal)
        for _ in range(per_thread):
            _user(dal)
            dal.commit()
        return per_thread

    started = [_in_thread(writer) for _ in range(threads)]
    for thread, _ in started:
        thread.join(60)
    outcomes = [outcome[0] for _, outcome in started]
    assert outcomes == [per_thread] * threads, outcomes
    assert dal(dal.user).count() == threads * per_thread


def test_a_rolled_back_write_lets_the_next_writer_in(dal):
    _no_busy_wait(dal)
    _user(dal)

    def second_writer() -> int:
        _no_busy_wait(dal)
        _user(dal)
        dal.commit()
        return dal(dal.user).count()

    thread, outcome = _in_thread(second_writer)
    time.sleep(0.2)
    dal.rollback()
    thread.join(10)
    assert outcome == [1]


def test_a_write_left_open_delays_the_others_only_for_the_wait_limit(dal, monkeypatch):
    monkeypatch.setattr(writers, "WAIT_S", 0.3)
    _no_busy_wait(dal)
    _user(dal)  # never committed while the other thread tries

    def second_writer() -> float:
        _no_busy_wait(dal)
        started = time.monotonic()
        try:
            _user(dal)
        finally:
            dal.rollback()
        return started

    thread, outcome = _in_thread(second_writer)
    thread.join(10)
    dal.rollback()
    # Past the wait limit SQLite decides, as it would without the turns: locked.
    assert isinstance(outcome[0], sqlite3.OperationalError), outcome
    assert "locked" in str(outcome[0])


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        ("INSERT INTO item VALUES (1)", True),
        ("  update item SET x = 1", True),
        ("DELETE FROM item", True),
        ("REPLACE INTO item VALUES (1)", True),
        ("BEGIN IMMEDIATE", True),
        ("SELECT * FROM item", False),
        ("PRAGMA data_version", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
    ],
)
def test_which_commands_make_a_connection_a_writer(command, writes):
    assert writers.starts_a_write(command) is writes


def test_a_file_no_dal_has_open_leaves_no_writer_behind(tmp_path, dal):
    # App databases come and go with their models: their writers must not pile up.
    gc.collect()  # DALs of earlier tests, in reference cycles
    before = len(writers._writers)
    for n in range(20):
        target = sqlite_target(tmp_path / f"app-{n}.db")
        db = open_dal(target, define=False)
        db.executesql("CREATE TABLE t (x INTEGER)")
        db.executesql("INSERT INTO t VALUES (1)")
        db.commit()
        close_dal(db)
        del db
    gc.collect()
    assert len(writers._writers) == before
    # The main database's DAL is still open, so its writer is still the same one.
    assert writers.writer_for(dal._adapter.dbpath) is dal._adapter.writer
