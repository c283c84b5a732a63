"""Apply a client's batch of offline operations, then answer with what changed since its cursor.

Rules (the same on every backend, and the same whatever order batches arrive in):

* Last write wins per row. A row's version is (timestamp, client_id, operation id) of the write
  that set it, deletions included (tombstones keep theirs). An operation no newer than the row's
  version is not applied: a conflict "stale", with the server's row. INSERT and UPDATE carry the
  whole row, so the row ends as the newest write made it, in whatever order writes arrive.
* A timestamp more than MAX_CLOCK_SKEW ahead of the server's clock is refused ("clock_skew"):
  it would win every later conflict.
* An operation id seen before (for this user and client) is not applied again; it is reported
  as it was the first time.
* A batch is one transaction: everything it applies commits together, or nothing does.
* A user changes only rows they own (superusers: any row); the owner of a new row is the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydal import DAL

from services.db import feed
from services.db.feed import Change, Entry, Version
from services.db.statements import insert_rows, select_in
from services.errors import Conflict, Problems, problem
from services.sync.schemas import OperationKind, SyncRequest
from services.sync.tables import SyncTable
from services.timeutil import to_naive_utc, utcnow, wire_time

MAX_CLOCK_SKEW = timedelta(minutes=5)
APPLIED = "applied"
STALE = "stale"
CLOCK_SKEW = "clock_skew"
FORBIDDEN = "forbidden"
RETRY = "A concurrent write touched the same rows; send the batch again"
_RETRYABLE = (
    "IntegrityError",
    "TransactionRollbackError",
    "DeadlockDetected",
    "SerializationFailure",
    "LockNotAvailable",
)
_MYSQL_RETRYABLE = (1205, 1213)  # lock wait timeout, deadlock


@dataclass(frozen=True)
class Scope:
    """One database's syncable tables, and who is syncing."""

    db: DAL
    tables: Mapping[str, SyncTable]  # by the name operations use
    user_id: uuid.UUID
    superuser: bool
    prefix: str = ""  # how operations and changes name the tables: prefix + name

    def visible_owner(self) -> uuid.UUID | None:
        """The owner whose rows the feed shows (None: every row)."""
        owned = any(t.owned for t in self.tables.values())
        return None if self.superuser or not owned else self.user_id


@dataclass
class _Op:
    id: str
    kind: OperationKind
    table: SyncTable
    row_id: uuid.UUID
    state: Any
    version: Version


@dataclass
class _Batch:
    scope: Scope
    client_id: str
    now: datetime
    entries: dict[tuple[str, uuid.UUID], Entry | None] = field(default_factory=dict)
    live: dict[tuple[str, uuid.UUID], dict | None] = field(default_factory=dict)
    pending: dict[tuple[str, uuid.UUID], Change] = field(default_factory=dict)


def parse(scope: Scope, request: SyncRequest, table_name) -> list[_Op]:
    """The batch's operations, checked; Problems (a 422) lists every problem."""
    problems: list[dict] = []
    ops: list[_Op] = []
    seen: set[str] = set()
    for i, raw in enumerate(request.operations):
        loc = ["body", "operations", i]
        if raw.id in seen:
            problems.append(
                problem([*loc, "id"], "operation id used twice in one batch", "duplicate")
            )
        seen.add(raw.id)
        name = table_name(raw.table)
        table = scope.tables.get(name) if name is not None else None
        if table is None:
            problems.append(
                problem(
                    [*loc, "table"], f"unknown table {raw.table!r} in this scope", "unknown_table"
                )
            )
            continue
        row_id, state, found = table.parse(
            raw.operation != OperationKind.DELETE, raw.data, [*loc, "data"]
        )
        problems += found
        ts = to_naive_utc(raw.timestamp)
        ops.append(
            _Op(raw.id, raw.operation, table, row_id, state, Version(ts, request.client_id, raw.id))
        )
    if problems:
        raise Problems(problems, "invalid sync batch")
    return ops


def apply(scope: Scope, client_id: str, ops: Sequence[_Op]) -> tuple[list[str], list[dict]]:
    """Apply the operations in order in the open transaction; (applied ids, conflicts)."""
    db = scope.db
    batch = _Batch(scope, client_id, utcnow())
    if not ops:
        return [], []
    feed.begin_write(db)
    try:
        done = _processed(db, scope.user_id, client_id, [op.id for op in ops])
        _load(batch, [op for op in ops if op.id not in done])
        outcomes: dict[str, str] = {}
        for op in ops:
            if op.id in done:
                continue
            outcomes[op.id] = _apply_one(batch, op)
        _flush(batch)
        insert_rows(
            db,
            db.sync_operation,
            [
                {
                    "user_id": scope.user_id,
                    "client_id": client_id,
                    "op_id": op_id,
                    "outcome": outcome,
                    "created_at": batch.now,
                }
                for op_id, outcome in outcomes.items()
            ],
        )
    except Exception as exc:
        if _retryable(exc):
            raise Conflict(RETRY) from None
        raise
    applied: list[str] = []
    conflicts: list[dict] = []
    for op in ops:
        outcome = outcomes.get(op.id) or done[op.id]
        if outcome == APPLIED:
            applied.append(op.id)
        else:
            conflicts.append(
                {"operation_id": op.id, "reason": outcome, "table": op.table, "row_id": op.row_id}
            )
    _attach_server_rows(scope, conflicts)
    return applied, conflicts


def _retryable(exc: Exception) -> bool:
    # By class names along the MRO: psycopg2 raises subclasses (UniqueViolation of
    # IntegrityError), which a check of the exact name missed (a 500 on PostgreSQL).
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_RETRYABLE):
        return True
    return "OperationalError" in names and bool(exc.args) and exc.args[0] in _MYSQL_RETRYABLE


def _processed(db: DAL, user_id: uuid.UUID, client_id: str, op_ids: list[str]) -> dict[str, str]:
    table = db.sync_operation
    found = select_in(
        db,
        table,
        [table.op_id, table.outcome],
        table.op_id,
        op_ids,
        where={"user_id": user_id, "client_id": client_id},
    )
    return {r["op_id"]: r["outcome"] for r in found}


def _load(batch: _Batch, ops: Sequence[_Op]) -> None:
    """Lock and read the feed entries and rows the batch touches (a few queries per table)."""
    by_table: dict[str, tuple[SyncTable, set[uuid.UUID]]] = {}
    for op in ops:
        by_table.setdefault(op.table.name, (op.table, set()))[1].add(op.row_id)
    for table, ids in by_table.values():
        _read(batch, table, ids)


def _read(batch: _Batch, table: SyncTable, ids: set[uuid.UUID]) -> None:
    found = feed.entries(batch.scope.db, table.name, ids, lock=True)
    rows = table.rows(ids)
    for row_id in ids:
        batch.entries[(table.name, row_id)] = found.get(row_id)
        batch.live[(table.name, row_id)] = rows.get(row_id)


def _apply_one(batch: _Batch, op: _Op) -> str:
    scope = batch.scope
    key = (op.table.name, op.row_id)
    if key not in batch.entries:
        _read(batch, op.table, {op.row_id})  # forgotten after a cascade
    entry, row = batch.entries[key], batch.live[key]
    owner = entry.owner_id if entry is not None else None
    if owner is None and row is not None and op.table.owned:
        owner = uuid.UUID(row["owner_id"])
    if op.table.owned and owner is not None and owner != scope.user_id and not scope.superuser:
        return FORBIDDEN
    # After the ownership check, so a refused timestamp never shows someone else's row.
    if op.version.ts > batch.now + MAX_CLOCK_SKEW:
        return CLOCK_SKEW
    if entry is not None and op.version <= entry.version:
        return APPLIED if op.version == entry.version else STALE
    if op.table.owned and owner is None:
        owner = scope.user_id
    deleted = op.kind == OperationKind.DELETE
    if not deleted:
        reason = op.table.conflict(op.row_id, op.state)
        if reason is not None:
            return reason
        op.table.write(op.row_id, op.state, exists=row is not None, owner_id=owner)
        batch.live[key] = {"owner_id": str(owner)} if owner is not None else {}
    elif row is not None:
        cascaded = op.table.delete(op.row_id)
        batch.live[key] = None
        if any(cascaded[0].values()) or any(cascaded[1].values()):
            _cascade(batch, *cascaded)
    batch.entries[key] = Entry(op.table.name, op.row_id, 0, deleted, op.version, owner)
    previous = batch.pending.get(key)
    stored = previous.exists if previous is not None else entry is not None
    batch.pending[key] = Change(op.table.name, op.row_id, deleted, op.version, owner, stored)
    return APPLIED


def _cascade(batch: _Batch, deleted: dict, changed: dict) -> None:
    """Record rows a deletion removed or changed, and forget what the batch knew of them."""
    _flush(batch)  # entries pending for those rows must be stored before they are renumbered
    feed.record_cascade(batch.scope.db, deleted, changed)
    for rows_of in (deleted, changed):
        for name, ids in rows_of.items():
            for row_id in ids:
                batch.entries.pop((name, row_id), None)
                batch.live.pop((name, row_id), None)


def _flush(batch: _Batch) -> None:
    for table in batch.scope.tables.values():
        table.flush()
    feed.record(batch.scope.db, list(batch.pending.values()))
    for key, change in batch.pending.items():
        batch.entries[key] = Entry(
            change.tbl, change.row_id, 0, change.deleted, change.version, change.owner_id
        )
    batch.pending = {}


def _attach_server_rows(scope: Scope, conflicts: list[dict]) -> None:
    for conflict in conflicts:
        table, row_id = conflict.pop("table"), conflict.pop("row_id")
        if conflict["reason"] == FORBIDDEN:
            conflict["server_row"] = None  # another user's row: show nothing of it
        else:
            conflict["server_row"] = table.rows([row_id]).get(row_id)


# --------------------------------------------------------------------------- the feed


def changes(scope: Scope, cursor: str | None, limit: int) -> dict[str, Any]:
    """The changes after ``cursor`` (at most ``limit``), the cursor to resume from, and flags."""
    db = scope.db
    epoch = feed.epoch(db)
    after, reset = 0, False
    if cursor is not None:
        cursor_epoch, seq = feed.decode_cursor(cursor)
        if cursor_epoch != epoch or seq > feed.last_seq(db):
            reset = True  # another database, a schema change, or a restored backup
        else:
            after = seq
    found = feed.after(db, scope.tables, after, limit + 1, owner_id=scope.visible_owner())
    has_more = len(found) > limit
    found = found[:limit]
    rows: dict[tuple[str, uuid.UUID], dict] = {}
    for name, table in scope.tables.items():
        live = [e.row_id for e in found if e.tbl == name and not e.deleted]
        if live:
            rows.update(((name, k), v) for k, v in table.rows(live).items())
    out = []
    for entry in found:
        data = None if entry.deleted else rows.get((entry.tbl, entry.row_id))
        out.append(
            {
                "seq": entry.seq,
                "table": scope.prefix + entry.tbl,
                "id": str(entry.row_id),
                "operation": "DELETE" if data is None else "UPSERT",
                "data": data,
                "timestamp": wire_time(entry.version.ts),
                "client_id": entry.version.client_id,
                "operation_id": entry.version.op_id,
            }
        )
    last = found[-1].seq if found else after
    return {
        "changes": out,
        "cursor": feed.encode_cursor(epoch, last),
        "has_more": has_more,
        "reset": reset,
    }
