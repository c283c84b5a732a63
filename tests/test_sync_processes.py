"""Sync against real service processes: kill -9 in the middle of a batch, and two processes
writing to one PostgreSQL database while clients follow the feed from either of them.

STRESS_SYNC_KILLS sets the number of kill rounds per backend (default 3; `make stress` runs more).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import BACKENDS
from tests.harness.common import report
from tests.procs import Service

ROUNDS = int(os.environ.get("STRESS_SYNC_KILLS", "3"))
SEED = int(os.environ.get("CRASH_SEED", "20261122"))
SYNC = "/api/v1/sync"
BATCH = 1000


def database_url(target) -> str | None:
    """DATABASE_URL for a server backend; None for SQLite (the data dir's app.db)."""
    return (
        None if target.family == "sqlite" else target.sa_url.render_as_string(hide_password=False)
    )


def stamp(base: datetime, step: int) -> str:
    return (base + timedelta(milliseconds=step)).isoformat()


def big_batch(prefix: str, existing: list[str], base: datetime) -> list[dict]:
    """BATCH operations: inserts, then updates and deletes of new and existing rows."""
    ops: list[dict] = []
    new = [str(uuid.uuid4()) for _ in range(BATCH - len(existing) - 200)]
    for i, row in enumerate(new):
        ops.append(
            {
                "id": f"{prefix}-i{i}",
                "table": "items",
                "operation": "INSERT",
                "data": {"id": row, "title": f"{prefix} new {i}"},
                "timestamp": stamp(base, len(ops)),
            }
        )
    for i, row in enumerate(new[:200]):
        ops.append(
            {
                "id": f"{prefix}-u{i}",
                "table": "items",
                "operation": "UPDATE",
                "data": {"id": row, "title": f"{prefix} changed {i}", "description": "u"},
                "timestamp": stamp(base, len(ops)),
            }
        )
    for i, row in enumerate(existing):
        kind = "DELETE" if i % 2 else "UPDATE"
        data = {"id": row} if kind == "DELETE" else {"id": row, "title": f"{prefix} touched {i}"}
        ops.append(
            {
                "id": f"{prefix}-e{i}",
                "table": "items",
                "operation": kind,
                "data": data,
                "timestamp": stamp(base, len(ops)),
            }
        )
    return ops


def fold(state: dict[str, str], ops: list[dict]) -> dict[str, str]:
    """The rows (id -> title) after applying ``ops`` once, in order, to ``state``."""
    out = dict(state)
    for op in ops:
        if op["operation"] == "DELETE":
            out.pop(op["data"]["id"], None)
        else:
            out[op["data"]["id"]] = op["data"]["title"]
    return out


def all_items(service: Service) -> dict[str, str]:
    """Every item (id -> title), paged through the REST API."""
    found: dict[str, str] = {}
    while True:
        status, page = service.call("GET", f"/api/v1/items/?limit=1000&skip={len(found)}")
        assert status == 200, page
        found.update((item["id"], item["title"]) for item in page["data"])
        if len(found) >= page["count"] or not page["data"]:
            return found


def send(service: Service, client_id: str, ops: list[dict], cursor: str | None = None) -> dict:
    body = {"client_id": client_id, "operations": ops, "limit": 1}
    if cursor:
        body["cursor"] = cursor
    status, out = service.call("POST", SYNC, body)
    assert status == 200, out
    return out


@pytest.mark.slow
def test_kill_9_during_a_sync_batch_leaves_all_or_nothing(fresh_target, tmp_path):
    outcomes = {"none": 0, "all": 0, "answered": 0}
    failed = 1
    try:
        _kill_rounds(fresh_target, tmp_path, outcomes)
        failed = 0
    finally:  # counts for make stress's table, whether or not the test passes
        report(
            "sync-kill",
            f"kill_9_during_a_sync_batch[{fresh_target.family}]",
            kills=sum(outcomes.values()),
            requests=sum(outcomes.values()) * BATCH,
            failures=failed,
        )


def _kill_rounds(fresh_target, tmp_path, outcomes: dict) -> None:
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    url = database_url(fresh_target)
    rng = random.Random(SEED)

    def start(n: int) -> Service:
        return Service(data_dir, logs / f"serve-{n:03d}.err", database_url=url)

    service = start(0)
    try:
        # The time a batch takes here, to aim the kills inside one.
        base = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
        warm = [str(uuid.uuid4()) for _ in range(100)]
        send(
            service,
            "warm-up",
            [
                {
                    "id": f"w{i}",
                    "table": "items",
                    "operation": "INSERT",
                    "data": {"id": row, "title": "warm"},
                    "timestamp": stamp(base, i),
                }
                for i, row in enumerate(warm)
            ],
        )
        began = time.monotonic()
        service.call(
            "POST",
            SYNC,
            {
                "client_id": "warm-up",
                "operations": big_batch("warm", warm, base + timedelta(minutes=1)),
            },
        )
        duration = time.monotonic() - began
        # At least ROUNDS rounds, and more (a few) until a kill lands before the answer: a
        # batch on a warm server can finish sooner than the aim.
        round_no = 0
        while round_no < ROUNDS or (
            outcomes["none"] + outcomes["all"] == 0 and round_no < ROUNDS + 6
        ):
            round_no += 1
            prefix = f"r{round_no}"
            setup = [str(uuid.uuid4()) for _ in range(100)]
            send(
                service,
                prefix,
                [
                    {
                        "id": f"{prefix}-s{i}",
                        "table": "items",
                        "operation": "INSERT",
                        "data": {"id": row, "title": "seed"},
                        "timestamp": stamp(base, i),
                    }
                    for i, row in enumerate(setup)
                ],
            )
            before = all_items(service)
            ops = big_batch(prefix, setup, base + timedelta(minutes=1))
            after = fold(before, ops)
            answer: dict = {}

            def post(ops=ops, answer=answer, service=service, prefix=prefix):
                try:
                    answer["out"] = service.call(
                        "POST", SYNC, {"client_id": prefix, "operations": ops}
                    )
                except OSError as exc:  # the kill: no answer
                    answer["error"] = exc

            sender = threading.Thread(target=post, daemon=True)
            sender.start()
            time.sleep(rng.uniform(0.1, 1.0) * duration)
            service.kill9()
            sender.join(timeout=30)
            service.stop()
            service = start(round_no)
            found = all_items(service)
            if "out" in answer:
                outcomes["answered"] += 1
                assert found == after, "an answered batch must be wholly there"
            elif found == before:
                outcomes["none"] += 1
            else:
                assert found == after, "a killed batch must be wholly there or wholly absent"
                outcomes["all"] += 1
            # Replaying the batch gives the state of applying it once, however often it is sent.
            for _ in range(2):
                out = send(service, prefix, ops)
                assert sorted(out["changes_applied"]) == sorted(o["id"] for o in ops)
                assert out["conflicts"] == []
                assert all_items(service) == after
        status, health = service.call("GET", "/api/v1/utils/health-check/")
        assert status == 200, health
    finally:
        service.stop()
    print(
        f"\nsync kill -9 on {fresh_target.family}: {round_no} rounds, batch of {BATCH} in "
        f"{duration:.2f} s, outcomes {outcomes}"
    )
    assert outcomes["none"] + outcomes["all"] >= 1, "no kill landed before the answer"


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_two_processes_on_postgresql_followers_miss_no_change(fresh_target, tmp_path):
    url = database_url(fresh_target)
    services = [
        Service(tmp_path / f"data{i}", tmp_path / f"serve{i}.err", database_url=url)
        for i in range(2)
    ]
    stop = threading.Event()
    acked: dict[str, str] = {}
    errors: list[str] = []
    base = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=30)

    def writer(n: int) -> None:
        service = services[n % 2]
        step = 0
        try:
            while not stop.is_set():
                rows = {str(uuid.uuid4()): f"w{n}-{step}-{k}" for k in range(random.randint(1, 60))}
                ops = [
                    {
                        "id": f"w{n}-{step}-{k}",
                        "table": "items",
                        "operation": "INSERT",
                        "data": {"id": row, "title": title},
                        "timestamp": stamp(base, step),
                    }
                    for k, (row, title) in enumerate(rows.items())
                ]
                step += 1
                # A big page read after the batch's writes keeps its transaction open a while
                # after it took its numbers: the window in which commits could overtake.
                status, out = service.call(
                    "POST", SYNC, {"client_id": f"writer{n}", "operations": ops, "limit": 3000}
                )
                assert status == 200, out
                assert len(out["changes_applied"]) == len(ops), out["conflicts"][:3]
                acked.update(rows)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(f"writer {n}: {exc!r}")

    def follower(n: int, mirror: dict[str, str], final: threading.Event) -> None:
        cursor, turn = None, 0
        try:
            while True:
                done = final.is_set()
                service = services[turn % 2]  # follow through either process, alternately
                turn += 1
                body = {"client_id": f"follower{n}", "limit": 1000}
                if cursor:
                    body["cursor"] = cursor
                status, out = service.call("POST", SYNC, body)
                assert status == 200, out
                assert not out["reset"]
                for change in out["changes"]:
                    mirror[change["id"]] = change["data"]["title"]
                cursor = out["cursor"]
                if done and not out["has_more"]:
                    return
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(f"follower {n}: {exc!r}")

    mirrors: list[dict[str, str]] = [{}, {}, {}]
    final = threading.Event()
    writers = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(6)]
    followers = [
        threading.Thread(target=follower, args=(n, mirrors[n], final), daemon=True)
        for n in range(3)
    ]
    try:
        for thread in writers + followers:
            thread.start()
        time.sleep(6)
        stop.set()
        for thread in writers:
            thread.join(timeout=60)
        final.set()  # every write is acknowledged: one more full pass, then compare
        for thread in followers:
            thread.join(timeout=120)
    finally:
        stop.set()
        final.set()
        for service in services:
            service.stop()
    assert not errors, errors[:5]
    assert len(acked) > 500, f"too little concurrency to show anything: {len(acked)} rows"
    for n, mirror in enumerate(mirrors):
        missing = set(acked) - set(mirror)
        assert not missing, f"follower {n} missed {len(missing)} of {len(acked)} rows"
        assert mirror == acked
    print(
        f"\ntwo processes on PostgreSQL: {len(acked)} rows written by 6 writers, "
        "every one seen by 3 followers"
    )
