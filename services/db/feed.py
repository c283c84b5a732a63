"""The change feed of one database (the main one, or an app database): sequence numbers, versions
and tombstones, kept in ``sync_row`` (services/db/models.py SyncRow).

Each row ever written has one entry. A write gives its entry the next sequence number, so the
entries after a client's cursor are exactly the rows that changed since, each once, in its latest
state; a deletion keeps the entry as a tombstone, so the deletion reaches every client and an
older write arriving later cannot bring the row back.

Numbers come from the single ``sync_counter`` row. Updating it locks it until the transaction
ends, so a transaction holding number n commits (or rolls back) before any other can take a
number above n: numbers become visible in order, and a reader that sees n sees everything below
it. A cursor handed out therefore never skips a change still in flight, even with several
service processes on one PostgreSQL database. Writers take their numbers as late as they can,
just before committing, so the lock is held briefly.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydal import DAL
from pydal.objects import Row

from services.db.statements import (
    insert_rows,
    placeholder,
    select_in,
    select_ordered,
    update_row,
)
from services.errors import Conflict, Invalid
from services.timeutil import utcnow

COUNTER = "seq"
# A counter row that refuses every write while it exists: a MySQL/MariaDB app database being
# copied into its new schema (services/appdb/shadow.py).
FROZEN = "frozen"
LOCAL_CLIENT = ""  # the client_id of a write made through the REST API (or by the service)
_CURSOR = re.compile(r"([0-9a-f]{32})\.([0-9]{1,19})")
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, order=True)
class Version:
    """Which write set a row: last write wins, ties broken on client id, then operation id."""

    ts: datetime
    client_id: str
    op_id: str


@dataclass(frozen=True)
class Entry:
    """A row's feed entry as stored: live or a tombstone, its version and owner."""

    tbl: str
    row_id: uuid.UUID
    seq: int
    deleted: bool
    version: Version
    owner_id: uuid.UUID | None


def local_version() -> Version:
    """The version of a write made through the REST API now."""
    return Version(utcnow(), LOCAL_CLIENT, "")


# --------------------------------------------------------------------------- the counter


def _counter(db: DAL) -> Row | None:
    table = db.sync_counter
    return db(table.name == COUNTER).select(table.value, table.epoch).first()


def ensure_counter(db: DAL) -> None:
    """Create the counter row of a database made before it had one (no commit)."""
    if _counter(db) is None:
        top = db.sync_row.seq.max()
        highest = db(db.sync_row).select(top).first()[top] or 0
        db.sync_counter.insert(name=COUNTER, value=highest, epoch=uuid.uuid4().hex)


def epoch(db: DAL) -> str:
    """The feed's epoch: cursors from another epoch (another database or schema) start over."""
    row = _counter(db)
    if row is None:
        ensure_counter(db)
        row = _counter(db)
    return row.epoch


def allocate(db: DAL, count: int) -> int:
    """Take ``count`` consecutive sequence numbers and return the first.

    Locks the counter row until the transaction ends (see the module's docstring). Conflict
    while the database is frozen for a schema change.
    """
    table = db.sync_counter
    if _returning(db):
        # One bound statement instead of PyDAL's update and a select, which were a third of
        # creating an item in process (profiled, issue 17).
        value = table.value._rname
        mark = placeholder(db)
        sql = (
            f"UPDATE {table._rname} SET {value} = {value} + {mark} "
            f"WHERE {table.name._rname} = {mark} RETURNING {value}"
        )
        taken = db.executesql(sql, placeholders=[count, COUNTER])
        if not taken:
            ensure_counter(db)
            taken = db.executesql(sql, placeholders=[count, COUNTER])
        return int(taken[0][0]) - count + 1
    if not db(table.name == COUNTER).update(value=table.value + count):
        ensure_counter(db)
        db(table.name == COUNTER).update(value=table.value + count)
    # Looked for after taking the counter row: the freeze inserts its row, then waits for
    # that lock, so a writer either commits before the copy starts or sees the row. A locking
    # read, so it sees the latest committed rows whatever the isolation level.
    if (
        db._adapter.dbengine == "mysql"
        and db(table.name == FROZEN).select(table.name, for_update=True).first()
    ):
        raise Conflict("the database is being changed (a schema change); retry the write")
    return _counter(db).value - count + 1


def _returning(db: DAL) -> bool:
    # UPDATE ... RETURNING: PostgreSQL, and SQLite from 3.35; not MariaDB (which also has the
    # schema-change freeze to look for, below).
    engine = db._adapter.dbengine
    return engine == "postgres" or (engine == "sqlite" and sqlite3.sqlite_version_info >= (3, 35))


def last_seq(db: DAL) -> int:
    """The highest number handed out so far."""
    row = _counter(db)
    return row.value if row is not None else 0


# --------------------------------------------------------------------------- cursors


def encode_cursor(epoch_id: str, seq: int) -> str:
    """The opaque cursor a client resumes from."""
    return f"{epoch_id}.{seq}"


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(epoch, seq) of a cursor this service handed out; Invalid otherwise."""
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match.group(2)) > MAX_SEQ:
        raise Invalid("cursor is not one this service handed out")
    return match.group(1), int(match.group(2))


# --------------------------------------------------------------------------- reading entries


_ENTRY_FIELDS = ("tbl", "row_id", "seq", "deleted", "ts", "client_id", "op_id", "owner_id")


def _entry(row: Row | dict) -> Entry:
    return Entry(
        row["tbl"],
        row["row_id"],
        row["seq"],
        bool(row["deleted"]),
        Version(row["ts"], row["client_id"], row["op_id"]),
        row["owner_id"],
    )


def begin_write(db: DAL) -> None:
    """Start the transaction as a writer (SQLite: BEGIN IMMEDIATE).

    SQLite's default deferred transaction reads a snapshot and fails with "database is locked"
    when it later tries to write after another connection committed; taking the write lock
    first makes the reads that decide a batch's writes current.
    """
    adapter = db._adapter
    if adapter.dbengine == "sqlite" and not adapter.connection.in_transaction:
        adapter.execute("BEGIN IMMEDIATE")


def entries(
    db: DAL, tbl: str, row_ids: Iterable[uuid.UUID], *, lock: bool = False
) -> dict[uuid.UUID, Entry]:
    """The entries of these rows, by row id.

    ``lock`` holds them (SELECT ... FOR UPDATE) until the transaction ends, so two batches
    writing the same row decide one after the other; SQLite has one writer anyway (see
    begin_write).
    """
    table = db.sync_row
    fields = [table[name] for name in _ENTRY_FIELDS]
    found = select_in(
        db, table, fields, table.row_id, list(dict.fromkeys(row_ids)), where={"tbl": tbl}, lock=lock
    )
    return {r["row_id"]: _entry(r) for r in found}


def after(
    db: DAL, tbls: Iterable[str], seq: int, limit: int, owner_id: uuid.UUID | None = None
) -> list[Entry]:
    """Up to ``limit`` entries numbered above ``seq``, in order (one statement: one snapshot)."""
    table = db.sync_row
    conditions = [(table.seq, ">", seq), (table.tbl, "in", list(tbls))]
    if owner_id is not None:
        conditions.append((table.owner_id, "=", owner_id))
    fields = [table[name] for name in _ENTRY_FIELDS]
    # The seq (or owner_id, seq) index gives the order; tbl only filters (see select_ordered).
    found = select_ordered(
        db, table, fields, conditions, table.seq, limit, filter_only=(table.tbl,)
    )
    return [_entry(r) for r in found]


# --------------------------------------------------------------------------- writing entries


@dataclass(frozen=True)
class Change:
    """A write to record: the row, whether it is now deleted, its version and owner."""

    tbl: str
    row_id: uuid.UUID
    deleted: bool
    version: Version
    owner_id: uuid.UUID | None
    exists: bool  # the row already has an entry (update it rather than insert one)


def record(db: DAL, changes: list[Change]) -> None:
    """Give each change the next number and store it; the caller commits soon after."""
    if not changes:
        return
    first = allocate(db, len(changes))
    table = db.sync_row
    new: list[dict] = []
    for offset, change in enumerate(changes):
        values = {
            "seq": first + offset,
            "deleted": change.deleted,
            "ts": change.version.ts,
            "client_id": change.version.client_id,
            "op_id": change.version.op_id,
            "owner_id": change.owner_id,
        }
        if change.exists:
            update_row(db, table, {"tbl": change.tbl, "row_id": change.row_id}, values)
        else:
            new.append({"tbl": change.tbl, "row_id": change.row_id, **values})
    insert_rows(db, table, new)


def touch(
    db: DAL,
    tbl: str,
    row_id: uuid.UUID,
    *,
    owner_id: uuid.UUID | None = None,
    deleted: bool = False,
    new: bool = False,
) -> None:
    """Record one REST write of a row (``new``: the row was just created, with a fresh id)."""
    entry = None if new else entries(db, tbl, [row_id]).get(row_id)
    version = local_version()
    if entry is not None:
        if entry.owner_id is not None:
            owner_id = entry.owner_id  # a superuser's change keeps the row's owner
        if entry.version >= version:
            # A synced write stamped ahead of our clock (within the allowed skew): this later
            # write must still win against anything older than it.
            version = Version(entry.version.ts + timedelta(microseconds=1), LOCAL_CLIENT, "")
    record(db, [Change(tbl, row_id, deleted, version, owner_id, entry is not None)])


def renumber(db: DAL, query, *, deleted: bool | None = None) -> int:
    """Give every entry matching ``query`` a new number (a bulk change), keeping their order.

    ``deleted=True`` also makes them tombstones stamped now (rows deleted in bulk or by a
    cascade); ``None`` leaves them as they are (rows a cascade changed). Returns how many.
    """
    table = db.sync_row
    low, high, count = table.seq.min(), table.seq.max(), table.seq.count()
    stats = db(query).select(low, high, count).first()
    if not stats[count]:
        return 0
    # Shift the block above every number handed out: the numbers stay distinct and ordered.
    shift = allocate(db, 1) - stats[low]
    values = {"seq": table.seq + shift}
    if deleted:
        version = local_version()
        values.update(deleted=True, ts=version.ts, client_id=version.client_id, op_id=version.op_id)
    db(query).update(**values)
    allocate(db, stats[high] - stats[low])  # the counter now covers the whole block
    return stats[count]


def register_new_rows(db: DAL, tbl: str, table, *, owner_id: uuid.UUID | None = None) -> int:
    """Add a live entry for every row of ``table`` that has none (rows inserted in bulk).

    A row whose id still has a tombstone (deleted earlier, inserted again) loses the tombstone.
    One INSERT ... SELECT numbers the rows in creation order on the database itself.
    """
    feed = db.sync_row
    ids = db(table.id != None)._select(table.id)  # noqa: E711
    resurrected = (feed.tbl == tbl) & (feed.deleted == True) & feed.row_id.belongs(ids)  # noqa: E712
    # PyDAL's SQLite delete() selects the table's ``_id``, which a composite key lacks.
    db.executesql(db(resurrected)._delete())
    known = db(feed.tbl == tbl)._select(feed.row_id)
    count = db(~table.id.belongs(known)).count()
    if not count:
        return 0
    first = allocate(db, count)
    rep = db._adapter.represent
    version = local_version()
    t_id, t_created = f"t.{table.id._rname}", f"t.{table.created_at._rname}"
    values = [
        rep(tbl, "string"),
        t_id,
        f"{first - 1} + ROW_NUMBER() OVER (ORDER BY {t_created}, {t_id})",
        rep(False, feed.deleted.type),
        rep(version.ts, feed.ts.type),
        rep(version.client_id, "string"),
        rep(version.op_id, "string"),
        rep(owner_id, feed.owner_id.type),
    ]
    columns = ("tbl", "row_id", "seq", "deleted", "ts", "client_id", "op_id", "owner_id")
    db.executesql(
        f"INSERT INTO {feed._rname} ({','.join(feed[c]._rname for c in columns)}) "
        f"SELECT {','.join(values)} FROM {table._rname} t WHERE NOT EXISTS ("
        f"SELECT 1 FROM {feed._rname} s WHERE s.{feed.tbl._rname} = {values[0]} "
        f"AND s.{feed.row_id._rname} = {t_id})"
    )
    return count


def record_cascade(
    db: DAL, deleted: Mapping[str, set[uuid.UUID]], changed: Mapping[str, set[uuid.UUID]]
) -> None:
    """Renumber the feed entries of rows a deletion removed or changed (see cascade)."""
    feed_table = db.sync_row
    for rows_of, is_deleted in ((deleted, True), (changed, None)):
        for name, ids in rows_of.items():
            ids = list(ids)
            for start in range(0, len(ids), 500):
                query = (feed_table.tbl == name) & feed_table.row_id.belongs(
                    ids[start : start + 500]
                )
                renumber(db, query, deleted=is_deleted)


def bury(db: DAL, tbls: Iterable[str], *, owner_id: uuid.UUID | None = None) -> int:
    """Make every live entry of the rows of ``tbls`` (only ``owner_id``'s, when given) a
    tombstone, before those rows are deleted in bulk; returns how many."""
    table = db.sync_row
    query = table.tbl.belongs(sorted(tbls)) & (table.deleted == False)  # noqa: E712
    if owner_id is not None:
        query &= table.owner_id == owner_id
    return renumber(db, query, deleted=True)
