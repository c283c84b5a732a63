"""Counts of an app database's filtered row lists, kept until the database changes (SQLite).

A page of rows comes with the count of every row matching its filters. On a field without an
index that count scans the whole table: at 100,000 rows it was ~30 ms of the ~37 ms a page took
(bench_browse), and a designer browsing pages through one filter paid it at every page. A count
is now kept, keyed by its SQL, until anything may have written to the database:

* a session of this handle that changed rows (sqlite3's ``total_changes``) ends a generation
  when it ends, committed or not;
* a commit from any other connection, this process's or another's, changes ``PRAGMA
  data_version`` on the connection a count is next read on, which ends a generation too; so
  does a connection never looked at before.

A count computed while a generation ends is stored under the generation it began in and so is
never served afterwards. A server database is shared with processes that tell us nothing of
their writes: nothing is kept there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

CAPACITY = 256  # distinct filtered counts kept per app database


class RowCounts:
    """One SQLite app database's cached counts, valid for the current generation only."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.generation = 0
        self._lock = threading.Lock()
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._seen: dict[int, int] = {}  # data_version last read on each connection (by id)

    def begin(self, connection: Any) -> int:
        """At a session's start: the connection's change count, for ``end``."""
        return connection.total_changes

    def look(self, connection: Any) -> None:
        """Before a kept count is used: end the generation if another connection committed
        since this one last looked. Only counts need it, so a row read or a write does not pay
        for the PRAGMA (issue 17)."""
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        with self._lock:
            if self._seen.get(id(connection)) != version:
                self._seen[id(connection)] = version
                self._new_generation()

    def end(self, connection: Any, changes_at_begin: int) -> None:
        """At a session's end: a session that changed rows ends the generation."""
        try:
            changed = connection.total_changes != changes_at_begin
        except Exception:  # noqa: BLE001 - a broken connection: assume it wrote
            changed = True
        if changed:
            with self._lock:
                self._new_generation()

    def forget(self, connection: Any) -> None:
        """A connection closed: its id may name a new one, which must be looked at afresh."""
        with self._lock:
            self._seen.pop(id(connection), None)

    def get(self, sql: str) -> tuple[int, int | None]:
        """The current generation and the count kept for ``sql`` in it (None: not kept)."""
        with self._lock:
            count = self._counts.get(sql)
            if count is not None:
                self._counts.move_to_end(sql)
            return self.generation, count

    def put(self, generation: int, sql: str, count: int) -> None:
        """Keep ``count``, read in ``generation``, unless that generation has ended."""
        with self._lock:
            if generation != self.generation:
                return
            self._counts[sql] = count
            self._counts.move_to_end(sql)
            while len(self._counts) > self.capacity:
                self._counts.popitem(last=False)

    def _new_generation(self) -> None:
        self.generation += 1
        self._counts.clear()


def count_rows(db: Any, query: Any) -> int:
    """``db(query).count()``, from the database's RowCounts when it holds it."""
    counts: RowCounts | None = getattr(db, "_row_counts", None)
    connection = db._adapter.connection
    # A session that has written holds them uncommitted: its counts are its own, not kept.
    if counts is None or getattr(connection, "in_transaction", True):
        return db(query).count()
    sql = db(query)._count()
    counts.look(connection)
    generation, count = counts.get(sql)
    if count is None:
        count = int(db.executesql(sql)[0][0])
        counts.put(generation, sql, count)
    return count
