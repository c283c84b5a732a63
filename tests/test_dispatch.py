"""Workers take quick requests one at a time on SQLite, and a slow request never stalls the rest."""

from __future__ import annotations

import threading
import time

import pytest
from waitress.task import ThreadedTaskDispatcher

from app.dispatch import OneAtATimeDispatcher, dispatcher_for

THREADS = 4
# Only turns a hang into a failure; the tasks themselves take milliseconds.
LIMIT_S = 20


class Tasks:
    """Tasks recording how many ran at once, when each started, and which finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.started: dict[str, float] = {}
        self.done: set[str] = set()
        self.cancelled: set[str] = set()
        self.all_done = threading.Condition(self.lock)

    def make(self, name: str, work):
        tasks = self

        class Task:
            def service(self) -> None:
                with tasks.lock:
                    tasks.started[name] = time.monotonic()
                    tasks.running += 1
                    tasks.most_at_once = max(tasks.most_at_once, tasks.running)
                try:
                    work()
                finally:
                    with tasks.lock:
                        tasks.running -= 1
                        tasks.done.add(name)
                        tasks.all_done.notify_all()

            def cancel(self) -> None:
                tasks.cancelled.add(name)

        return Task()

    def wait_for(self, names) -> None:
        with self.lock:
            assert self.all_done.wait_for(lambda: set(names) <= self.done, LIMIT_S), (
                f"not finished: {sorted(set(names) - self.done)}"
            )


@pytest.fixture
def dispatcher():
    made: list[ThreadedTaskDispatcher] = []

    def make(cls=OneAtATimeDispatcher, **kwargs) -> ThreadedTaskDispatcher:
        d = cls(**kwargs)
        d.set_thread_count(THREADS)
        made.append(d)
        return d

    yield make
    for d in made:
        d.shutdown(cancel_pending=True, timeout=5)


def _quick() -> None:
    # Sleeping releases the GIL: free workers would overlap here, as they do on a database call.
    time.sleep(0.002)


def test_quick_requests_run_one_at_a_time(dispatcher):
    tasks = Tasks()
    d = dispatcher()
    names = [f"q{n}" for n in range(200)]
    for name in names:
        d.add_task(tasks.make(name, _quick))
    tasks.wait_for(names)
    assert tasks.most_at_once == 1


def test_waitress_own_dispatcher_runs_them_at_once(dispatcher):
    # The same load on the stock dispatcher: what the first test would see if turns were off.
    tasks = Tasks()
    d = dispatcher(ThreadedTaskDispatcher)
    names = [f"q{n}" for n in range(200)]
    for name in names:
        d.add_task(tasks.make(name, _quick))
    tasks.wait_for(names)
    assert tasks.most_at_once > 1


@pytest.mark.parametrize("stuck", [1, THREADS - 1])
def test_slow_requests_do_not_stall_the_quick_ones_behind_them(dispatcher, stuck):
    tasks = Tasks()
    release = threading.Event()
    d = dispatcher(patience_s=0.05)
    slow = [f"slow{n}" for n in range(stuck)]
    quick = [f"q{n}" for n in range(20)]
    try:
        for name in slow:
            d.add_task(tasks.make(name, lambda: release.wait(LIMIT_S)))
        # All queued at once: each worker taking a slow one must leave another watching.
        for name in quick:
            d.add_task(tasks.make(name, _quick))
        tasks.wait_for(quick)
        assert not release.is_set() and not set(slow) & tasks.done
        assert set(slow) <= set(tasks.started)  # every slow one got a worker of its own
    finally:
        release.set()
    tasks.wait_for(slow)


def test_a_quick_request_after_a_slow_one_waits_for_the_patience_not_for_the_slow_one(dispatcher):
    tasks = Tasks()
    release = threading.Event()
    d = dispatcher(patience_s=0.05)
    try:
        d.add_task(tasks.make("slow", lambda: release.wait(LIMIT_S)))
        time.sleep(0.01)  # "slow" is running when "quick" comes
        d.add_task(tasks.make("quick", _quick))
        tasks.wait_for(["quick"])
        assert "slow" not in tasks.done
        # It was not taken at once by a free worker: the patience passed first.
        assert tasks.started["quick"] - tasks.started["slow"] >= 0.05 * 0.9
    finally:
        release.set()
    tasks.wait_for(["slow"])


def test_with_every_worker_stuck_the_queue_waits_then_drains(dispatcher):
    tasks = Tasks()
    release = threading.Event()
    d = dispatcher(patience_s=0.02)
    slow = [f"slow{n}" for n in range(THREADS)]
    for name in slow:
        d.add_task(tasks.make(name, lambda: release.wait(LIMIT_S)))
        time.sleep(0.05)
    d.add_task(tasks.make("quick", _quick))
    time.sleep(0.2)
    assert "quick" not in tasks.started
    release.set()
    tasks.wait_for([*slow, "quick"])


def test_shutdown_stops_idle_and_watching_workers_and_cancels_what_waits(dispatcher):
    tasks = Tasks()
    release = threading.Event()
    d = dispatcher(patience_s=60)  # nothing queued gets a worker while "slow" runs
    d.add_task(tasks.make("slow", lambda: release.wait(LIMIT_S)))
    time.sleep(0.05)
    d.add_task(tasks.make("waiting", _quick))
    time.sleep(0.05)
    assert d.watching
    stopped = []
    stopper = threading.Thread(target=lambda: stopped.append(d.shutdown(True, LIMIT_S)))
    stopper.start()
    deadline = time.monotonic() + LIMIT_S
    while len(d.threads) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(d.threads) == 1  # every worker but the busy one has gone, the watcher too
    release.set()
    stopper.join(LIMIT_S)
    assert stopped == [True] and not d.threads
    assert tasks.done == {"slow"} and tasks.cancelled == {"waiting"}


def test_the_dispatcher_follows_the_main_database():
    for family, cls in (
        ("sqlite", OneAtATimeDispatcher),
        ("postgresql", ThreadedTaskDispatcher),
        ("mysql", ThreadedTaskDispatcher),
    ):
        d = dispatcher_for(family, 2)
        try:
            assert type(d) is cls
            assert len(d.threads) == 2
        finally:
            d.shutdown(cancel_pending=True, timeout=5)
