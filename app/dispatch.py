"""Which waitress worker runs a request: one at a time while requests are quick (SQLite)."""

from __future__ import annotations

import time

from waitress.task import ThreadedTaskDispatcher

# How long the running request may take before another worker starts the next one. Long enough
# that a quick request (a row, a page: 1-5 ms) never shares the interpreter, short enough that a
# slow one (a seed, a sync batch, a wait for SQLite's write lock) delays the others by no more.
PATIENCE_S = 0.02


class OneAtATimeDispatcher(ThreadedTaskDispatcher):
    """waitress's worker threads, taking requests one at a time unless the running one is slow.

    With an in-process database a request is almost all Python, so workers running at once
    only take turns holding the GIL, and each handoff costs: at 16 and 64 connections, 4
    workers served a row by id at about 0.7x the rate one worker did (1,350 vs 1,830 req/s).
    Here a worker takes the next queued request only when no request is running, or when the
    newest one running started PATIENCE_S ago or more: a slow request still lets the others
    through, as the thread pool is for. One idle worker at most watches the clock while
    requests wait; the others sleep until there is work they may take.
    """

    def __init__(self, patience_s: float = PATIENCE_S) -> None:
        super().__init__()
        self.patience_s = patience_s
        self.started: dict[int, float] = {}  # worker number -> when its request started
        self.watching = False

    def _wait_s(self) -> float | None:
        """None when a worker may take the next request now, else how long until it may."""
        if not self.started:
            return None
        due = max(self.started.values()) + self.patience_s - time.monotonic()
        return None if due <= 0 else due

    def handler_thread(self, thread_no: int) -> None:
        """waitress's worker loop, taking a request only when _wait_s allows."""
        while True:
            with self.lock:
                while self.stop_count == 0:
                    wait = None
                    if self.queue:
                        wait = self._wait_s()
                        if wait is None:
                            break
                        if self.watching:  # another idle worker keeps the time
                            wait = None
                    self.active_count -= 1
                    self.watching = self.watching or wait is not None
                    self.queue_cv.wait(wait)
                    if wait is not None:
                        self.watching = False
                    self.active_count += 1
                if self.stop_count > 0:
                    self.active_count -= 1
                    self.stop_count -= 1
                    self.threads.discard(thread_no)
                    self.thread_exit_cv.notify()
                    break
                task = self.queue.popleft()
                self.started[thread_no] = time.monotonic()
                if self.queue and not self.watching:
                    self.queue_cv.notify()  # someone must notice if this request is slow
            try:
                task.service()
            except BaseException:
                self.logger.exception("Exception when servicing %r", task)
            finally:
                with self.lock:
                    del self.started[thread_no]

    def add_task(self, task) -> None:
        """Queue a request; wake a worker only if it may take it or the clock needs a watcher."""
        with self.lock:
            self.queue.append(task)
            if not self.started or not self.watching:
                self.queue_cv.notify()


def dispatcher_for(family: str, threads: int) -> ThreadedTaskDispatcher:
    """The dispatcher for a main database of ``family`` (sqlite, postgresql, mysql)."""
    # A server database answers over a socket, with the GIL released: there, requests running
    # at once do overlap, and taking turns lost 10-25% of a page or a POST on PostgreSQL.
    if family == "sqlite":
        dispatcher = OneAtATimeDispatcher()
    else:
        dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    return dispatcher
