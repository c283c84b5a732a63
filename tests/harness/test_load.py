"""Load: real service processes under 16, then 64, concurrent keep-alive connections.

Each connection is one thread with its own ``http.client`` connection, mixing reads and writes
for a bounded time over items (REST), two app databases (rows of two models) and
``POST /api/v1/sync`` batches of item inserts and updates. Every thread writes only rows it
created, so the state the acknowledged writes must leave is known exactly. After each slice, and
again after a graceful stop (SIGTERM):

* every acknowledged create is there once with its last acknowledged value, every acknowledged
  delete is gone, and each table holds exactly the expected number of rows, read straight from
  the database (sqlite3 on the files, a SQLAlchemy engine on a server);
* no response was a 5xx or anything but a 200, and "database is locked" appears in no response
  and no log of the service (nor does a traceback);
* on SQLite, ``PRAGMA integrity_check`` is ok on the main file and on every app database file.

On PostgreSQL the same runs again with two service processes on one database, started side by
side, the connections split between them. The fast profile (``make test``) runs each connection
count for SECONDS; ``HARNESS_PROFILE=full`` (``make stress``) runs each for longer. Counts go to
the harness report, one line per connection count.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.appdb import store
from tests.conftest import BACKENDS
from tests.harness.common import API, FULL, SEED, report
from tests.harness.world import ENTITY, model_body
from tests.procs import Service

SECONDS = 25.0 if FULL else 2.5
CONNECTIONS = (16, 64)
TIMEOUT = 60.0  # one request; a thread stuck longer is a finding, not a hang
LOCKED = "database is locked"
SYNC_BATCH = 20

# (operation, weight): writes about two thirds of the requests.
MIX = (
    ("item_create", 14),
    ("item_list", 6),
    ("item_read", 8),
    ("item_update", 9),
    ("item_delete", 5),
    ("row_create", 14),
    ("row_list", 5),
    ("row_read", 6),
    ("row_update", 9),
    ("row_delete", 5),
    ("sync", 9),
)


def database_url(target) -> str | None:
    """DATABASE_URL for a server backend; None for SQLite (the data dir's app.db)."""
    if target.family == "sqlite":
        return None
    return target.sa_url.render_as_string(hide_password=False)


def norm_id(value) -> str:
    """A row id as the API spells it, whatever type the driver returns."""
    if isinstance(value, bytes):
        value = value.decode()
    return str(uuid.UUID(str(value)))


@dataclass
class Ledger:
    """What one connection asked for and what was acknowledged.

    ``items``: id -> (title, description) of rows that must be there; ``rows``: per model,
    id -> (title, n). ``uncertain`` counts writes without an answer (their effect is unknown).
    """

    items: dict[str, tuple[str, str]] = field(default_factory=dict)
    sync_items: set[str] = field(default_factory=set)  # written through /sync only
    unknown: set[str] = field(default_factory=set)  # ids written without an answer
    rows: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    requests: int = 0
    acked_creates: int = 0
    acked_deletes: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)
    locked: int = 0
    server_errors: int = 0


class Client:
    """One keep-alive connection to one service, driven by one thread."""

    def __init__(
        self, service: Service, n: int, run: str, models: list[str], deadline: float
    ) -> None:
        self.service, self.n, self.run, self.models = service, n, run, models
        self.deadline = deadline
        self.rng = random.Random(SEED * 1000 + n)
        self.ledger = Ledger(rows={m: {} for m in models})
        self.conn: http.client.HTTPConnection | None = None
        self.serial = 0
        self.last_stamp = datetime.now(UTC) - timedelta(seconds=1)
        self.ops = [name for name, _ in MIX]
        self.weights = [w for _, w in MIX]

    # ------------------------------------------------------------------ transport

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(
                self.service.host, self.service.port, timeout=TIMEOUT
            )
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method: str, path: str, body=None) -> tuple[int, object] | None:
        """(status, JSON) of one request on the kept-alive connection; None without an answer
        (recorded as an error). Anything but a 200 is recorded as an error too."""
        self.ledger.requests += 1
        payload = None if body is None else json.dumps(body)
        try:
            conn = self._connection()
            conn.request(
                method, f"{API}{path}", body=payload, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.ledger.errors.append(f"{method} {path}: no answer: {exc!r}")
            return None
        text = raw.decode("utf-8", "replace")
        if LOCKED in text:
            self.ledger.locked += 1
        if status >= 500:
            self.ledger.server_errors += 1
        if status != 200:
            self.ledger.errors.append(f"{method} {path}: {status} {text[:300]}")
            return status, None
        return status, json.loads(raw or b"null")

    # ------------------------------------------------------------------ the mix

    def marker(self) -> str:
        self.serial += 1
        return f"{self.run}-c{self.n}-{self.serial}"

    def stamp(self) -> str:
        # Strictly increasing per connection, so a later update never loses to an earlier one.
        now = datetime.now(UTC)
        self.last_stamp = max(now, self.last_stamp + timedelta(milliseconds=1))
        return self.last_stamp.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def loop(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                op = self.rng.choices(self.ops, self.weights)[0]
                getattr(self, op)()
        except Exception as exc:  # noqa: BLE001 - a bug of the test itself is reported too
            self.ledger.errors.append(f"client {self.n} crashed: {exc!r}")
        finally:
            self.close()

    def _rest_items(self) -> list[str]:
        return [i for i in self.ledger.items if i not in self.ledger.sync_items]

    def item_create(self) -> None:
        marker = self.marker()
        answer = self.call("POST", "/items/", {"title": f"t0 {marker}", "description": marker})
        if answer is None:
            self.ledger.uncertain += 1
        elif answer[1] is not None:
            self.ledger.items[answer[1]["id"]] = (f"t0 {marker}", marker)
            self.ledger.acked_creates += 1

    def item_list(self) -> None:
        skip = self.rng.randrange(0, 200)
        self.call("GET", f"/items/?skip={skip}&limit={self.rng.choice((5, 20, 100))}")

    def item_read(self) -> None:
        if not self.ledger.items:
            return self.item_create()
        item_id = self.rng.choice(list(self.ledger.items))
        answer = self.call("GET", f"/items/{item_id}")
        if answer and answer[1] is not None:
            title, description = self.ledger.items[item_id]
            got = (answer[1]["title"], answer[1]["description"])
            if got != (title, description):
                self.ledger.errors.append(f"GET /items/{item_id}: {got} != {(title, description)}")

    def item_update(self) -> None:
        own = self._rest_items()
        if not own:
            return self.item_create()
        item_id = self.rng.choice(own)
        title = f"t{self.serial} {self.ledger.items[item_id][1]}"
        self.serial += 1
        answer = self.call("PUT", f"/items/{item_id}", {"title": title})
        if answer is None:
            self.ledger.uncertain += 1
            self.ledger.items.pop(item_id)  # its state is unknown now: leave it out
            self.ledger.unknown.add(item_id)
        elif answer[1] is not None:
            self.ledger.items[item_id] = (title, self.ledger.items[item_id][1])

    def item_delete(self) -> None:
        own = self._rest_items()
        if not own:
            return self.item_create()
        item_id = self.rng.choice(own)
        answer = self.call("DELETE", f"/items/{item_id}")
        if answer is None:
            self.ledger.uncertain += 1
            self.ledger.items.pop(item_id)
            self.ledger.unknown.add(item_id)
        elif answer[1] is not None:
            self.ledger.items.pop(item_id)
            self.ledger.acked_deletes += 1

    def row_create(self) -> None:
        model = self.rng.choice(self.models)
        marker = self.marker()
        answer = self.call(
            "POST", f"/models/{model}/app-database/entities/{ENTITY}", {"title": marker, "n": 0}
        )
        if answer is None:
            self.ledger.uncertain += 1
        elif answer[1] is not None:
            self.ledger.rows[model][str(answer[1]["id"])] = (marker, 0)
            self.ledger.acked_creates += 1

    def row_list(self) -> None:
        model = self.rng.choice(self.models)
        self.call(
            "GET",
            f"/models/{model}/app-database/entities/{ENTITY}"
            f"?limit={self.rng.choice((5, 50))}&sort=-n",
        )

    def _own_row(self) -> tuple[str, str] | None:
        model = self.rng.choice(self.models)
        if not self.ledger.rows[model]:
            return None
        return model, self.rng.choice(list(self.ledger.rows[model]))

    def row_read(self) -> None:
        picked = self._own_row()
        if picked is None:
            return self.row_create()
        model, row_id = picked
        answer = self.call("GET", f"/models/{model}/app-database/entities/{ENTITY}/{row_id}")
        if answer and answer[1] is not None:
            got = (answer[1]["title"], answer[1]["n"])
            if got != self.ledger.rows[model][row_id]:
                self.ledger.errors.append(
                    f"GET row {row_id}: {got} != {self.ledger.rows[model][row_id]}"
                )

    def row_update(self) -> None:
        picked = self._own_row()
        if picked is None:
            return self.row_create()
        model, row_id = picked
        title, n = self.ledger.rows[model][row_id]
        answer = self.call(
            "PATCH", f"/models/{model}/app-database/entities/{ENTITY}/{row_id}", {"n": n + 1}
        )
        if answer is None:
            self.ledger.uncertain += 1
            self.ledger.rows[model].pop(row_id)
            self.ledger.unknown.add(row_id)
        elif answer[1] is not None:
            self.ledger.rows[model][row_id] = (title, n + 1)

    def row_delete(self) -> None:
        picked = self._own_row()
        if picked is None:
            return self.row_create()
        model, row_id = picked
        answer = self.call("DELETE", f"/models/{model}/app-database/entities/{ENTITY}/{row_id}")
        if answer is None:
            self.ledger.uncertain += 1
            self.ledger.rows[model].pop(row_id)
            self.ledger.unknown.add(row_id)
        elif answer[1] is not None:
            self.ledger.rows[model].pop(row_id)
            self.ledger.acked_deletes += 1

    def sync(self) -> None:
        """A batch of new items and updates of items this connection synced before."""
        ops, after = [], {}
        synced = sorted(self.ledger.sync_items)
        for _ in range(self.rng.randint(1, SYNC_BATCH)):
            if synced and self.rng.random() < 0.4:
                row = self.rng.choice(synced)
                description = self.ledger.items[row][1]
                kind = "UPDATE"
            else:
                row, description, kind = str(uuid.uuid4()), self.marker(), "INSERT"
                synced.append(row)
            title = f"s{self.serial} {description}"
            self.serial += 1
            ops.append(
                {
                    "id": f"{self.run}-c{self.n}-op{self.serial}",
                    "table": "items",
                    "operation": kind,
                    "timestamp": self.stamp(),
                    "data": {"id": row, "title": title, "description": description},
                }
            )
            after[row] = (title, description, kind)
            # A later op of the same batch on a row reads its description from here.
            self.ledger.items.setdefault(row, (title, description))
        answer = self.call(
            "POST", "/sync", {"client_id": f"{self.run}-c{self.n}", "operations": ops, "limit": 1}
        )
        new = [r for r in after if r not in self.ledger.sync_items]
        if answer is None:  # applied or not: unknown, so leave every row it touched out
            self.ledger.uncertain += 1
            for row in after:
                self.ledger.items.pop(row, None)
                self.ledger.sync_items.discard(row)
                self.ledger.unknown.add(row)
            return
        if answer[1] is None:  # refused (an error already): a batch is all or nothing
            for row in new:
                self.ledger.items.pop(row, None)
            return
        out = answer[1]
        if out["conflicts"] or sorted(out["changes_applied"]) != sorted(o["id"] for o in ops):
            self.ledger.errors.append(
                f"sync: applied {len(out['changes_applied'])} of "
                f"{len(ops)}, conflicts {out['conflicts'][:2]}"
            )
        for row, (title, description, _) in after.items():
            self.ledger.items[row] = (title, description)
            self.ledger.sync_items.add(row)
        self.ledger.acked_creates += len(new)


# ----------------------------------------------------------------------------- the database


def _sqlite_rows(path: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def integrity(path: Path) -> str:
    return "; ".join(r[0] for r in _sqlite_rows(path, "PRAGMA integrity_check"))


def read_state(target, data_dir: Path, models: list[str]) -> tuple[list[tuple], dict[str, list]]:
    """Every item (id, title, description) and every app row (id, title, n) per model,
    straight from the database."""
    items_sql = "SELECT id, title, description FROM item"
    if target.family == "sqlite":
        items = _sqlite_rows(data_dir / "app.db", items_sql)
        rows = {
            m: _sqlite_rows(data_dir / "apps" / f"{m}.db", f'SELECT id, title, n FROM "{ENTITY}"')
            for m in models
        }
        return items, rows
    engine = sa.create_engine(target.sa_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            items = [tuple(r) for r in conn.exec_driver_sql(items_sql)]
            rows = {}
            for model in models:
                if target.family == "postgresql":
                    where = store.database_name(model_id=model)
                else:
                    where = store.server_database_name(
                        main_database=target.sa_url.database, model_id=model
                    )
                sql = f"SELECT id, title, n FROM {quote(where)}.{quote(ENTITY)}"
                rows[model] = [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()
    return items, rows


@dataclass
class Tally:
    """Expected rows against found rows, per table."""

    acked: int = 0
    found: int = 0
    lost: int = 0
    doubled: int = 0  # rows beyond the expected: a create applied twice, a delete undone
    wrong: int = 0  # there, but not with the last acknowledged value
    problems: list[str] = field(default_factory=list)

    def compare(
        self, table: str, expected: dict[str, tuple], found: list[tuple], unknown: set[str]
    ) -> None:
        seen: dict[str, tuple] = {}
        markers: dict[str, int] = {}
        for row_id, *values in found:
            key = norm_id(row_id)
            if key in seen:
                self.doubled += 1
                self.problems.append(f"{table}: id {key} twice")
            seen[key] = tuple(values)
        for values in seen.values():
            marker = values[1] if table == "items" else values[0]
            markers[marker] = markers.get(marker, 0) + 1
        self.acked += len(expected)
        for key, values in expected.items():
            if key not in seen:
                self.lost += 1
                self.problems.append(f"{table}: acknowledged {key} {values} is missing")
            else:
                self.found += 1
                if seen[key] != tuple(values):
                    self.wrong += 1
                    self.problems.append(f"{table}: {key} is {seen[key]}, acked {values}")
                marker = values[1] if table == "items" else values[0]
                if markers.get(marker, 0) > 1:
                    self.problems.append(f"{table}: {marker} on {markers[marker]} rows")
                    markers[marker] = 1
        extra = set(seen) - set(expected) - unknown
        if not unknown and len(found) != len(expected):
            self.problems.append(f"{table}: {len(found)} rows, {len(expected)} expected")
        self.doubled += len(extra)
        if extra:
            self.problems.append(
                f"{table}: {len(extra)} rows nobody is owed "
                f"(count {len(found)}, expected {len(expected)})"
            )


# ----------------------------------------------------------------------------- the run


def start_services(data_dirs: list[Path], logs: list[Path], url: str | None) -> list[Service]:
    """One service per data dir, started side by side (start-up is most of a short run)."""
    started: list[Service | BaseException | None] = [None] * len(data_dirs)

    def start(i: int) -> None:
        try:
            started[i] = Service(data_dirs[i], logs[i], database_url=url)
        except BaseException as exc:  # noqa: BLE001 - raised below, after the others are up
            started[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(data_dirs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [s for s in started if not isinstance(s, Service)]
    if failed:
        for service in started:
            if isinstance(service, Service):
                service.stop()
        raise AssertionError(f"a service did not start: {failed[0]!r}")
    return [s for s in started if isinstance(s, Service)]


def drive(services: list[Service], connections: int, models: list[str]) -> list[Client]:
    """One slice: ``connections`` threads, each on its own keep-alive connection (spread over
    the services), mixing requests for SECONDS; returns them when every one has stopped."""
    run = f"L{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + SECONDS
    clients = [
        Client(services[n % len(services)], n, run, models, deadline) for n in range(connections)
    ]
    threads = [threading.Thread(target=c.loop, daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 2 * TIMEOUT)
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        clients[0].ledger.errors.append(f"{stuck} connections still waiting for an answer")
    return clients


def check_rows(target, data_dir: Path, models: list[str], clients: list[Client]) -> Tally:
    """The database against every acknowledged write of ``clients``."""
    ledgers = [c.ledger for c in clients]
    expected_items = {k: v for ledger in ledgers for k, v in ledger.items.items()}
    expected_rows = {
        m: {k: v for ledger in ledgers for k, v in ledger.rows[m].items()} for m in models
    }
    unknown = {k for ledger in ledgers for k in ledger.unknown}
    items, rows = read_state(target, data_dir, models)
    tally = Tally()
    tally.compare("items", expected_items, items, unknown)
    for model in models:
        tally.compare(f"rows of {model}", expected_rows[model], rows[model], unknown)
    return tally


def figures_of(clients: list[Client], tally: Tally, **more) -> tuple[dict, list[str]]:
    """The counts of one slice (rows: everything acknowledged so far) and what went wrong."""
    ledgers = [c.ledger for c in clients]
    errors = [e for ledger in ledgers for e in ledger.errors]
    figures = {
        **more,
        "connections": len(clients),
        "requests": sum(ledger.requests for ledger in ledgers),
        "errors": len(errors),
        "server_errors": sum(ledger.server_errors for ledger in ledgers),
        "locked": sum(ledger.locked for ledger in ledgers),
        "uncertain": sum(ledger.uncertain for ledger in ledgers),
        "creates": sum(ledger.acked_creates for ledger in ledgers),
        "deletes": sum(ledger.acked_deletes for ledger in ledgers),
        "acked": tally.acked,
        "found": tally.found,
        "lost": tally.lost,
        "doubled": tally.doubled,
        "wrong": tally.wrong,
    }
    failures = errors[:10] + tally.problems[:10]
    if figures["requests"] < len(clients):  # not even one request per connection
        failures.append(f"only {figures['requests']} requests: too little load to show anything")
    return figures, failures


def run_load(name: str, target, tmp_path: Path, processes: int) -> None:
    """Every connection count of CONNECTIONS in turn on the same services, the database checked
    after each; after a graceful stop, checked again with the logs and (SQLite) the files."""
    url = database_url(target)
    data_dirs = [tmp_path / f"data{i}" for i in range(processes)]
    logs = [tmp_path / f"serve{i}.err" for i in range(processes)]
    services: list[Service] = []
    everyone: list[Client] = []
    failures: list[str] = []
    try:
        services.extend(start_services(data_dirs, logs, url))
        models = [f"load-{uuid.uuid4().hex[:8]}-{k}" for k in range(2)]
        for model in models:
            status, out = services[0].call(
                "POST", f"{API}/models/", model_body(model, f"load {model}")
            )
            assert status == 200, out
        for connections in CONNECTIONS:
            began = time.monotonic()
            clients = drive(services, connections, models)
            everyone += clients
            seconds = round(time.monotonic() - began, 1)
            if connections == CONNECTIONS[-1]:
                for service in services:  # a graceful stop: SIGTERM, drain, exit
                    service.proc.terminate()
                    with contextlib.suppress(Exception):
                        service.proc.wait(timeout=30)
            figures, found_wrong = figures_of(
                clients,
                check_rows(target, data_dirs[0], models, everyone),
                backend=target.family,
                processes=processes,
                seconds=seconds,
            )
            if connections == CONNECTIONS[-1]:
                found_wrong += final_checks(target, data_dirs, logs, services)
            failures += found_wrong
            test = f"{name}, {connections} connections"
            report(
                "load", test, **figures, cases=figures["requests"], failures=int(bool(found_wrong))
            )
            print(f"\nload {test}: {json.dumps(figures)}")
    except BaseException:
        report("load", name, failures=1)
        raise
    finally:
        for service in services:
            service.stop()
    assert not failures, "\n".join(failures)


def final_checks(
    target, data_dirs: list[Path], logs: list[Path], services: list[Service]
) -> list[str]:
    """After the services stopped: they exited cleanly, no log says "database is locked", and
    every SQLite file is intact."""
    problems = [
        f"service {s.ready['pid']} exited with {s.proc.returncode} on SIGTERM"
        for s in services
        if s.proc.returncode != 0
    ]
    for path in [*logs, *(p for d in data_dirs for p in (d / "logs").glob("*"))]:
        text = path.read_text(errors="replace") if path.is_file() else ""
        if LOCKED in text:
            problems.append(f"{path.name}: {LOCKED!r} {text.count(LOCKED)} times")
        if "Traceback" in text:
            problems.append(f"{path.name}: {text.count('Traceback')} tracebacks")
    if target.family == "sqlite":
        for path in [data_dirs[0] / "app.db", *sorted((data_dirs[0] / "apps").glob("*.db"))]:
            verdict = integrity(path)
            if verdict != "ok":
                problems.append(f"integrity_check of {path.name}: {verdict}")
    return problems


@pytest.mark.slow
def test_load_on_one_service(fresh_target, tmp_path):
    run_load(f"one service, {fresh_target.family}", fresh_target, tmp_path, processes=1)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_load_on_two_services_sharing_postgresql(fresh_target, tmp_path):
    run_load(f"two services, {fresh_target.family}", fresh_target, tmp_path, processes=2)
