"""SQLite writers take turns in this process instead of in SQLite's busy handler.

SQLite lets one connection write to a database at a time. A connection that finds the write
lock taken sleeps in its busy handler (1, 2, 5, 10 ... 100 ms) and tries again, so a writer
can sleep long after the lock came free: at 16 clients POST /items/ waited up to 9 times its
mean (p99 354 ms). Here a writer of this process waits for the one before it on a lock that
wakes it as soon as that one commits or rolls back. Other processes (a CLI seeding the same
file) still meet SQLite's lock and its busy handler, as before.
"""

from __future__ import annotations

import os
import threading
import weakref

# As long as SQLite's busy_timeout: a writer that never ends its transaction (a bug, or a
# test holding one open) delays the others by that much, then SQLite decides as it would
# without this queue.
WAIT_S = 5.0
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")


class Writer:
    """One write transaction at a time on one SQLite file, among this process's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None

    def enter(self) -> None:
        """Wait for this thread's turn to write (at once if it already has it)."""
        me = threading.get_ident()
        if self._holder == me:
            return
        if self._lock.acquire(timeout=WAIT_S):
            self._holder = me

    def leave(self) -> None:
        """End this thread's turn, if it has one (after a commit or a rollback)."""
        if self._holder == threading.get_ident():
            self._holder = None
            self._lock.release()


# Held by the adapters on each file: a file no DAL has open any more (a deleted model's app
# database) leaves no entry behind.
_writers: weakref.WeakValueDictionary[str, Writer] = weakref.WeakValueDictionary()
_writers_lock = threading.Lock()


def writer_for(path: str) -> Writer:
    """The one Writer of this process for the SQLite file at ``path``."""
    key = os.path.realpath(path)
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = Writer()
        return writer


def starts_a_write(command: str) -> bool:
    """Whether ``command``, run outside a transaction, makes this connection a writer."""
    return command.lstrip()[:7].upper().startswith(_WRITES)
