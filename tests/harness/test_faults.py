"""Faults: kill -9 inside a seed, a schema sync and a migration; a full disk; a read-only database.

Every kill is aimed at a uniformly random moment inside the operation, whose duration each test
measures first on the same database. A kill counts as *landed* when, just before SIGKILL, the
operation's write transaction was seen open (tests/harness/faultkit.py says how); each test
repeats rounds (bounded) until at least one kill landed. After each kill the database must hold
the state before the operation or the state after it, wholly, with integrity intact.

The tiny and the read-only filesystems are mounts in a private mount namespace (``unshare -m``,
as root, which these machines and CI are): a tmpfs of a few MB, and a read-only bind mount.
chmod would not stop root, so a read-only mount is the honest way to make the file unwritable.

Rounds: HARNESS_PROFILE=full runs 10 per kill test, the fast profile 1 (plus retries until one
kill landed). Kill-during-item-writes and kill-during-a-sync-batch live in
tests/test_crash_durability.py and tests/test_sync_processes.py.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from services.db import migrations
from services.db.models import Item, User
from services.db.urls import DatabaseTarget, sqlite_target
from tests.conftest import BACKENDS
from tests.harness.common import FULL, SEED, report
from tests.harness.faultkit import (
    Namespace,
    WriterProbe,
    aim,
    app_target,
    integrity,
    integrity_inside,
    kill9,
    schema_of,
    sha256,
    writer_window,
)
from tests.procs import ROOT, Service
from tests.test_sync_processes import database_url

API = "/api/v1"
ROUNDS = 10 if FULL else 1
RETRIES = 8  # extra rounds, at most, until one kill landed inside the operation
MODEL_ID = "faults"
TRANSACTIONAL = [b for b in BACKENDS if b != "mysql"]  # MariaDB DDL is not transactional

BASE = {
    "entities": [
        {
            "name": "author",
            "fields": [
                {"name": "name", "type": "String", "required": True},
                {"name": "email", "type": "String", "unique": True},
                {"name": "born", "type": "Date"},
            ],
        },
        {
            "name": "book",
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "pages", "type": "Integer"},
                {"name": "blurb", "type": "Text"},
            ],
        },
    ],
    "relationships": [{"type": "OneToMany", "from": "author", "to": "book", "name": "author"}],
}
# The changed definition: a new column on a big table and a new table (and back: both dropped).
CHANGED = {
    **BASE,
    "entities": [
        {
            **BASE["entities"][0],
            "fields": [*BASE["entities"][0]["fields"], {"name": "score", "type": "Integer"}],
        },
        BASE["entities"][1],
        {"name": "tag", "fields": [{"name": "label", "type": "String"}]},
    ],
}


def cli_env(url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    if url:
        env["DATABASE_URL"] = url
    return env


def cli(args: list[str], data_dir: Path, url: str | None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args, "--data-dir", str(data_dir)],
        cwd=ROOT,
        env=cli_env(url),
        **kwargs,
    )


def table_counts(target: DatabaseTarget, schema: str | None) -> dict[str, int]:
    engine = sa.create_engine(target.sa_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            names = sa.inspect(conn).get_table_names(schema)
            prefix = f"{quote(schema)}." if schema else ""
            return {
                n: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {prefix}{quote(n)}").scalar_one()
                for n in names
            }
    finally:
        engine.dispose()


def create_model(service: Service) -> None:
    status, out = service.call(
        "POST", f"{API}/models/", {"id": MODEL_ID, "name": "Faults", "definition": BASE}
    )
    assert status == 200, out


def sqlite_files(data_dir: Path) -> list[Path]:
    return [data_dir / "app.db", *sorted((data_dir / "apps").glob("*.db"))]


def check_sqlite_integrity(data_dir: Path, where: str) -> None:
    for path in sqlite_files(data_dir):
        if not path.exists():  # killed before it created the file: nothing to check
            continue
        check = integrity(path)
        assert check == "ok", f"{where}: integrity_check of {path.name} said {check}"


# ----------------------------------------------------------------------------- 1. seed


def run_seed(
    data_dir: Path, url: str | None, count: int, seed: int, probe: WriterProbe | None = None
) -> float:
    """Seed to the end; how long its write transaction was open (when ``probe`` watches)."""
    log = data_dir.parent / f"seed-{seed}.log"
    with open(log, "wb") as out:
        proc = cli(
            ["seed", MODEL_ID, "--count", str(count), "--seed", str(seed), "--preserve-existing"],
            data_dir,
            url,
            stdout=out,
            stderr=out,
        )
        window = 0.0
        if probe is not None:
            window = writer_window(
                probe, proc.pid, sqlite_files(data_dir), lambda: proc.poll() is not None
            )
        proc.wait(timeout=120)
    assert proc.returncode == 0, log.read_text()[-2000:]
    return window


@pytest.mark.slow
def test_kill_9_during_a_seed_leaves_it_wholly_there_or_absent(fresh_target, tmp_path):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    url = database_url(fresh_target)
    count = 3000 if FULL else 1000
    if fresh_target.family == "mysql":
        count *= 3  # its write window is short (a few multi-row INSERTs): aim at a longer one
    rng = random.Random(f"{SEED}-seed-{fresh_target.family}")
    service = Service(data_dir, logs / "serve-0.err", database_url=url)
    try:
        create_model(service)
    finally:
        service.stop()
    target, schema = app_target(fresh_target, data_dir, MODEL_ID)

    probe = WriterProbe(fresh_target)
    # The duration: one whole seed (also data the killed seeds must leave alone).
    before = table_counts(target, schema)
    operation = run_seed(data_dir, url, count, 1, probe)
    seeded = table_counts(target, schema)
    grown = {t: seeded[t] - before[t] for t in seeded if seeded[t] != before[t]}
    assert grown.get("author") == count and grown.get("book") == count, grown

    kills = landed = rounds = 0
    outcomes = {"absent": 0, "whole": 0, "finished": 0}
    failures = 1
    try:
        while rounds < ROUNDS or (landed == 0 and rounds < ROUNDS + RETRIES):
            rounds += 1
            before = table_counts(target, schema)
            proc = cli(
                [
                    "seed",
                    MODEL_ID,
                    "--count",
                    str(count),
                    "--seed",
                    str(100 + rounds),
                    "--preserve-existing",
                ],
                data_dir,
                url,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            writing = aim(
                probe,
                proc.pid,
                sqlite_files(data_dir),
                operation,
                rng,
                lambda proc=proc: proc.poll() is not None,
            )
            killed = kill9(proc)
            kills += killed
            landed += killed and writing
            if fresh_target.family == "sqlite":
                check_sqlite_integrity(data_dir, f"round {rounds}")
            after = table_counts(target, schema)
            if not killed:
                outcomes["finished"] += 1
                assert after == {t: before[t] + grown.get(t, 0) for t in before}, (before, after)
            elif after == before:
                outcomes["absent"] += 1
            else:
                whole = {t: before[t] + grown.get(t, 0) for t in before}
                assert after == whole, f"round {rounds}: a killed seed left part: {before} {after}"
                outcomes["whole"] += 1
            assert not (writing and killed and after != before), "an open seed survived a kill"
        # The service starts on what is left and agrees with the database.
        service = Service(data_dir, logs / "serve-1.err", database_url=url)
        try:
            status, state = service.call("GET", f"{API}/models/{MODEL_ID}/app-database/status")
            assert status == 200 and state["in_sync"], state
            final = table_counts(target, schema)
            assert state["entity_counts"] == {"author": final["author"], "book": final["book"]}
            status, ok = service.call("GET", f"{API}/utils/health-check/")
            assert status == 200 and ok is True
        finally:
            service.stop()
        failures = int(landed == 0)
    finally:
        probe.close()
        report(
            "faults",
            f"seed[{fresh_target.family}]",
            kills=kills,
            landed=landed,
            acked=outcomes["finished"],
            found=outcomes["finished"],
            lost=0,
            doubled=0,
            requests=rounds,
            errors=0,
            failures=failures,
            **outcomes,
        )
    print(
        f"\nseed kill -9 on {fresh_target.family}: {rounds} rounds, {count} rows/entity in "
        f"a {operation:.2f}s transaction, {kills} kills, {landed} landed, {outcomes}"
    )
    assert landed >= 1, f"no kill landed inside a seed in {rounds} rounds"


# ----------------------------------------------------------------------------- 2. schema sync


def fields_of(definition: dict) -> dict[str, list[str]]:
    return {e["name"]: sorted(f["name"] for f in e["fields"]) for e in definition["entities"]}


def untouched(target: DatabaseTarget, schema: str | None, columns: dict[str, tuple]) -> dict:
    """Every row of the columns both definitions share, in a stable order."""
    engine = sa.create_engine(target.sa_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            prefix = f"{quote(schema)}." if schema else ""
            return {
                table: sorted(
                    tuple(map(repr, r))
                    for r in conn.exec_driver_sql(
                        f"SELECT {', '.join(map(quote, cols))} FROM {prefix}{quote(table)}"
                    )
                )
                for table, cols in columns.items()
            }
    finally:
        engine.dispose()


def put_model(service: Service, definition: dict, timeout: float = 60) -> tuple[int, object]:
    return service.call(
        "PUT",
        f"{API}/models/{MODEL_ID}?allow_destructive=true",
        {"id": MODEL_ID, "name": "Faults", "definition": definition},
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", TRANSACTIONAL, indirect=True)
def test_kill_9_during_a_schema_sync_leaves_the_old_or_the_new_schema(fresh_target, tmp_path):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    url = database_url(fresh_target)
    rng = random.Random(f"{SEED}-sync-{fresh_target.family}")
    target, schema = app_target(fresh_target, data_dir, MODEL_ID)
    starts = 0

    def start() -> Service:
        nonlocal starts
        starts += 1
        return Service(data_dir, logs / f"serve-{starts:03d}.err", database_url=url)

    service = start()
    probe = WriterProbe(fresh_target)
    kills = landed = rounds = 0
    outcomes = {"old": 0, "new": 0, "answered": 0}
    failures = 1
    try:
        create_model(service)
        run_seed(data_dir, url, 6000 if FULL else 3000, 7)  # the rows a sync must keep
        # The durations, and each definition's schema, from syncs that run to the end.
        schemas, durations = {}, {}
        for name, definition in (("changed", CHANGED), ("base", BASE)):
            answer = {}
            sender = threading.Thread(
                target=lambda d=definition, a=answer: a.update(out=put_model(service, d))
            )
            sender.start()
            durations[name] = writer_window(
                probe, service.proc.pid, sqlite_files(data_dir), lambda s=sender: not s.is_alive()
            )
            sender.join()
            assert answer["out"][0] == 200, answer
            schemas[name] = schema_of(target, schema)
        assert schemas["base"] != schemas["changed"]
        shared = {
            t: tuple(c for c in cols if c in schemas["changed"].get(t, ()))
            for t, cols in schemas["base"].items()
            if t in ("author", "book")
        }
        data = untouched(target, schema, shared)
        assert len(data["author"]) >= 3000
        current = "base"
        while rounds < ROUNDS or (landed == 0 and rounds < ROUNDS + RETRIES):
            rounds += 1
            goal = "changed" if current == "base" else "base"
            answer: dict = {}

            def send(goal=goal, answer=answer, service=service):
                try:
                    answer["out"] = put_model(service, CHANGED if goal == "changed" else BASE)
                except (OSError, http.client.HTTPException) as exc:  # the kill: no answer
                    answer["error"] = exc

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            writing = aim(
                probe,
                service.proc.pid,
                sqlite_files(data_dir),
                durations[goal],
                rng,
                lambda s=sender: not s.is_alive(),
            )
            killed = kill9(service.proc)
            sender.join(timeout=30)
            service.stop()
            kills += killed
            landed += killed and writing and "out" not in answer
            if fresh_target.family == "sqlite":
                check_sqlite_integrity(data_dir, f"round {rounds}")
            found = schema_of(target, schema)
            state = next((n for n, s in schemas.items() if s == found), None)
            assert state is not None, f"round {rounds}: a schema half-way: {found}"
            if "out" in answer:
                assert answer["out"][0] == 200, answer["out"]
                assert state == goal, "an answered sync must be wholly there"
                outcomes["answered"] += 1
            else:
                outcomes["new" if state == goal else "old"] += 1
            assert untouched(target, schema, shared) == data, "untouched columns changed"
            service = start()
            status, model = service.call("GET", f"{API}/models/{MODEL_ID}")
            assert status == 200, model
            stored = "changed" if fields_of(model["definition"]) == fields_of(CHANGED) else "base"
            assert stored == state, (
                f"round {rounds}: the database has the {state} schema but "
                f"the stored definition is the {stored} one"
            )
            status, report_ = service.call("GET", f"{API}/models/{MODEL_ID}/app-database/status")
            assert status == 200 and report_["in_sync"], report_
            current = state
        failures = int(landed == 0)
    finally:
        service.stop()
        probe.close()
        report(
            "faults",
            f"schema_sync[{fresh_target.family}]",
            kills=kills,
            landed=landed,
            acked=outcomes["answered"],
            found=outcomes["answered"],
            lost=0,
            doubled=0,
            requests=rounds,
            errors=0,
            failures=failures,
            **outcomes,
        )
    print(
        f"\nschema sync kill -9 on {fresh_target.family}: {rounds} rounds, syncs of "
        f"{durations['changed']:.2f}/{durations['base']:.2f}s, {kills} kills, {landed} landed, "
        f"{outcomes}"
    )
    assert landed >= 1, f"no kill landed inside a schema sync in {rounds} rounds"


# ----------------------------------------------------------------------------- 3. migrations


def add_items(target: DatabaseTarget, count: int) -> None:
    """A user and ``count`` items, written straight to a database at revision 0003."""
    engine = sa.create_engine(target.sa_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            owner = uuid.uuid4()
            conn.execute(
                User.__table__.insert(),
                [{"id": owner, "email": "o@example.com", "hashed_password": "x"}],
            )
            conn.execute(
                Item.__table__.insert(),
                [
                    {
                        "id": uuid.uuid4(),
                        "title": f"item {i}",
                        "description": "d" * 100,
                        "owner_id": owner,
                    }
                    for i in range(count)
                ],
            )
    finally:
        engine.dispose()


def empty_database(target: DatabaseTarget, data_dir: Path) -> None:
    if target.family == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{data_dir / 'app.db'}{suffix}").unlink(missing_ok=True)
        return
    engine = sa.create_engine(target.sa_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


def timed_cli(args: list[str], data_dir: Path, url: str | None, probe: WriterProbe) -> float:
    """Run a command to its end; how long it kept its write transaction open."""
    with open(data_dir.parent / "calibrate.err", "wb") as err:
        proc = cli(args, data_dir, url, stdout=subprocess.DEVNULL, stderr=err)
        window = writer_window(
            probe, proc.pid, [data_dir / "app.db"], lambda: proc.poll() is not None
        )
        proc.wait(timeout=120)
    assert proc.returncode == 0, (data_dir.parent / "calibrate.err").read_text()[-2000:]
    return window


@pytest.mark.slow
@pytest.mark.parametrize("backend", TRANSACTIONAL, indirect=True)
def test_kill_9_during_a_migration_leaves_the_old_or_the_new_revision(fresh_target, tmp_path):
    from services.db.parity import run_parity

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = database_url(fresh_target)
    target = sqlite_target(data_dir / "app.db") if fresh_target.family == "sqlite" else fresh_target
    rng = random.Random(f"{SEED}-migrate-{fresh_target.family}")
    head = migrations.head_revision()
    items = 20000 if FULL else 5000
    probe = WriterProbe(fresh_target)
    kills = landed = rounds = 0
    outcomes: dict[str, int] = {}
    failures = 1
    try:
        # Reference schemas and durations, from runs to the end.
        migrations.upgrade(target, "0003")
        add_items(target, items)
        schemas = {"0003": schema_of(target)}
        durations = {"data": timed_cli(["migrate"], data_dir, url, probe)}
        schemas[head] = schema_of(target)
        empty_database(target, data_dir)
        schemas[None] = schema_of(target)
        durations["empty"] = timed_cli(["migrate"], data_dir, url, probe)
        assert schemas[None] == {} and schemas[head] != schemas["0003"]

        for phase, old in (("empty", None), ("data", "0003")):
            if phase == "data":
                empty_database(target, data_dir)
                migrations.upgrade(target, "0003")
                add_items(target, items)
            phase_landed, phase_rounds = 0, 0
            while phase_rounds < ROUNDS or (phase_landed == 0 and phase_rounds < ROUNDS + RETRIES):
                phase_rounds += 1
                rounds += 1
                # Back to the old revision, with the items when the phase has data.
                if phase == "empty":
                    empty_database(target, data_dir)
                else:
                    migrations.downgrade(target, "0003")
                before = {} if phase == "empty" else table_counts(target, None)
                proc = cli(
                    ["migrate"], data_dir, url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                writing = aim(
                    probe,
                    proc.pid,
                    [data_dir / "app.db"],
                    durations[phase],
                    rng,
                    lambda proc=proc: proc.poll() is not None,
                )
                killed = kill9(proc)
                kills += killed
                phase_landed += killed and writing
                landed += killed and writing
                if fresh_target.family == "sqlite":
                    check_sqlite_integrity(data_dir, f"{phase} round {phase_rounds}")
                revision = migrations.current_revision(target)
                assert revision in (old, head), revision
                assert schema_of(target) == schemas[revision], (
                    f"{phase} round {phase_rounds}: revision {revision} with another schema"
                )
                if phase == "data":
                    counts = table_counts(target, None)
                    assert counts["item"] == items and counts["user"] == 1, counts
                    if revision == head:  # the feed was backfilled wholly
                        assert counts["sync_row"] == items, counts
                outcome = f"{phase}:{'new' if revision == head else 'old'}"
                outcome += "" if killed else ":finished"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                # Migrate again: head, parity ok, the data still there.
                migrations.upgrade(target)
                parity = run_parity(target)
                assert parity.ok, parity.render()
                if phase == "data":
                    assert table_counts(target, None)["item"] == before["item"]
            assert phase_landed >= 1, f"no kill landed inside a migration from {phase}"
        failures = 0
    finally:
        probe.close()
        report(
            "faults",
            f"migration[{fresh_target.family}]",
            kills=kills,
            landed=landed,
            acked=0,
            found=0,
            lost=0,
            doubled=0,
            requests=rounds,
            errors=0,
            failures=failures,
            **outcomes,
        )
    print(
        f"\nmigration kill -9 on {fresh_target.family}: {rounds} rounds, migrate "
        f"{durations['empty']:.2f}s from empty, {durations['data']:.2f}s from 0003 with "
        f"{items} items (write transactions), {kills} kills, {landed} landed, {outcomes}"
    )


# ----------------------------------------------------------------------------- 5. full disk


def list_titles(service: Service) -> list[str]:
    titles: list[str] = []
    while True:
        status, page = service.call("GET", f"{API}/items/?limit=1000&skip={len(titles)}")
        assert status == 200, page
        titles += [item["title"] for item in page["data"]]
        if not page["data"] or len(titles) >= page["count"]:
            return titles


def error_json(body) -> bool:
    return isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], str)


@pytest.mark.slow
def test_a_full_disk_answers_507_stays_up_and_loses_no_acknowledged_write(tmp_path):
    mnt, logs = tmp_path / "mnt", tmp_path / "logs"
    mnt.mkdir()
    logs.mkdir()
    data_dir = mnt / "data"
    ns = Namespace(f"mount -t tmpfs -o size=6m tmpfs {mnt}")
    acked: list[str] = []
    answers: dict[int, int] = {}
    bad: list[str] = []
    requests = 0
    failures = 1
    titles: list[str] = []
    try:
        service = Service(data_dir, logs / "serve-0.err", prefix=ns.prefix)
        try:
            # Fill the filesystem, then free a little: some writes fit, then none.
            filler = ns.path(mnt / "filler")
            # Unbuffered: a buffered file keeps the part of its last write that did not fit
            # and raises ENOSPC again when closed.
            with open(filler, "wb", buffering=0) as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                except OSError:
                    pass
            os.truncate(filler, max(0, filler.stat().st_size - 160 * 1024))

            def write(title: str) -> int:
                nonlocal requests
                requests += 1
                status, body = service.call(
                    "POST", f"{API}/items/", {"title": title, "description": "x" * 255}, timeout=30
                )
                answers[status] = answers.get(status, 0) + 1
                if status == 200:
                    assert body["title"] == title, body
                    acked.append(title)
                elif status not in (503, 507) or not error_json(body):
                    bad.append(f"{title}: {status} {body!r}"[:300])
                return status

            refused_in_a_row = 0
            for n in range(4000):
                refused_in_a_row = 0 if write(f"full-{n:05d}") == 200 else refused_in_a_row + 1
                if refused_in_a_row >= 25 or bad:
                    break
                if n % 50 == 0:
                    status, ok = service.call("GET", f"{API}/utils/health-check/", timeout=30)
                    assert status == 200 and ok is True, (status, ok)
            assert not bad, f"a full disk was answered badly: {bad[:5]}"
            assert refused_in_a_row >= 25, f"the disk never filled: {answers}"
            assert service.proc.poll() is None, "the service died on a full disk"
            status, ok = service.call("GET", f"{API}/utils/health-check/", timeout=30)
            assert status == 200 and ok is True, (status, ok)
            # Space returns: writes succeed again.
            filler.unlink()
            for n in range(20):
                assert write(f"after-{n:03d}") == 200, bad[-1:] or answers
            titles = list_titles(service)
            service.proc.send_signal(signal.SIGTERM)
            assert service.proc.wait(timeout=20) == 0
        finally:
            service.stop()
        service = Service(data_dir, logs / "serve-1.err", prefix=ns.prefix)
        try:
            assert sorted(list_titles(service)) == sorted(titles)
        finally:
            service.stop()
        check = integrity_inside(ns, data_dir / "app.db")
        assert check == "ok", check
        failures = 0
    finally:
        ns.close()
        lost = len(set(acked) - set(titles))
        # errors: answers other than 200 and the JSON 507/503 a full disk is meant to give.
        report(
            "faults",
            "full_disk",
            kills=0,
            acked=len(acked),
            found=len(set(acked) & set(titles)),
            lost=lost,
            doubled=len(titles) - len(set(titles)),
            requests=requests,
            errors=sum(n for s, n in answers.items() if s not in (200, 503, 507)),
            refused=sum(n for s, n in answers.items() if s in (503, 507)),
            failures=failures,
            answers={str(k): v for k, v in answers.items()},
        )
    assert not set(acked) - set(titles) and len(titles) == len(set(titles))
    print(
        f"\nfull disk: {requests} writes, answers {answers}, {len(acked)} acknowledged, "
        "0 lost, the service stayed up and wrote again once space returned"
    )


# ----------------------------------------------------------------------------- 6. read-only


@pytest.mark.slow
@pytest.mark.parametrize("what", ["data-dir", "database-file"])
def test_a_read_only_database_is_refused_clearly_and_left_byte_identical(what, tmp_path):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    service = Service(data_dir, logs / "serve-0.err")
    try:
        for n in range(5):
            assert service.call("POST", f"{API}/items/", {"title": f"ro-{n}"})[0] == 200
        service.proc.send_signal(signal.SIGTERM)
        assert service.proc.wait(timeout=20) == 0
    finally:
        service.stop()
    database = data_dir / "app.db"
    before = sha256(database)
    path = data_dir if what == "data-dir" else database
    ns = Namespace(f"mount --bind {path} {path} && mount -o remount,bind,ro {path}")
    outcome, answers = "", {}
    failures = 1
    try:
        with open(logs / "serve-ro.err", "wb") as err:
            proc = subprocess.Popen(
                [
                    *ns.prefix,
                    sys.executable,
                    "-m",
                    "app",
                    "serve",
                    "--port",
                    "0",
                    "--data-dir",
                    str(data_dir),
                ],
                cwd=ROOT,
                env=cli_env(None),
                stdout=subprocess.PIPE,
                stderr=err,
            )
            try:
                line = b""
                import select

                readable, _, _ = select.select([proc.stdout], [], [], 30)
                line = proc.stdout.readline() if readable else b""
                if line:
                    # It started: reads work, writes answer JSON 503 (never 500).
                    ready = json.loads(line)
                    conn = Service.__new__(Service)
                    conn.host, conn.port = "127.0.0.1", ready["port"]
                    status, ok = conn.call("GET", f"{API}/utils/health-check/", timeout=30)
                    answers["health"] = status
                    status, page = conn.call("GET", f"{API}/items/", timeout=30)
                    answers["read"] = status
                    assert status == 200 and page["count"] == 5, page
                    status, body = conn.call("POST", f"{API}/items/", {"title": "no"}, timeout=30)
                    answers["write"] = status
                    assert status == 503 and error_json(body), (status, body)
                    outcome = "serves reads, refuses writes with 503"
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
                else:
                    proc.wait(timeout=30)
                    outcome = f"refused to start (exit {proc.returncode})"
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=10)
                proc.stdout.close()
        stderr = (logs / "serve-ro.err").read_text(errors="replace")
        if not line:
            assert proc.returncode not in (0, None), proc.returncode
            last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            assert last.startswith("error:") and any(
                word in last.lower() for word in ("writable", "read-only", "readonly")
            ), stderr
            outcome += f": {last}"
        failures = 0
    finally:
        ns.close()
        after = sha256(database)
        report(
            "faults",
            f"read_only[{what}]",
            kills=0,
            acked=5,
            found=5,
            lost=0,
            doubled=0,
            requests=len(answers),
            errors=0,
            failures=failures or int(after != before),
        )
    assert after == before, "the read-only database changed"
    print(f"\nread-only {what}: {outcome}; the database file is byte-identical")
