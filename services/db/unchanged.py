"""Answers read from one SQLite database, kept for as long as nothing has written to it.

Before each use, the connection at hand is looked at: ``PRAGMA data_version`` changes when
any other connection (this process's or another's) committed, and ``total_changes`` when this
connection wrote. Either one differing from what that connection showed last time ends the
generation and every answer kept in it. An answer read during a generation is kept under the
generation it was read in, so one read while a write commits is never served afterwards.
Each connection looked at is held (a closed one's id could otherwise name a new connection
that would pass for it); the main database's kept connections are few and live as long.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class UntilChanged:
    """A bounded map of answers, emptied whenever the database may have changed."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.generation = 0
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._seen: dict[int, tuple[Any, tuple[int, int]]] = {}

    def look(self, connection: Any) -> int:
        """The current generation, after ending it if ``connection`` shows a change."""
        token = (connection.execute("PRAGMA data_version").fetchone()[0], connection.total_changes)
        with self._lock:
            seen = self._seen.get(id(connection))
            if seen is None or seen[0] is not connection or seen[1] != token:
                self._seen[id(connection)] = (connection, token)
                self.generation += 1
                self._answers.clear()
            return self.generation

    def get(self, connection: Any, key: Hashable, read: Callable[[], Any]) -> Any:
        """The answer for ``key``: kept, or ``read()`` on ``connection`` and kept."""
        # Uncommitted writes of this connection are its own: nothing is read from or kept for
        # a connection in a transaction.
        if getattr(connection, "in_transaction", True):
            return read()
        generation = self.look(connection)
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = read()
        with self._lock:
            if generation == self.generation:
                self._answers[key] = answer
                while len(self._answers) > self.capacity:
                    self._answers.popitem(last=False)
        return answer
