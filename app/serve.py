"""Serving under waitress with a graceful stop: signals, a parent-process watch, a drain."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import warnings

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from app.dispatch import dispatcher_for
from services.config import Settings

log = logging.getLogger("app.serve")
DRAIN_SECONDS = 4.0
PARENT_POLL_SECONDS = 0.5
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# waitress's defaults (100 connections, 120 s idle timeout) let ~100 idle sockets, opened with
# no credentials, stop every other request until they timed out, and 100 is exactly the load
# the service must hold (issue 17). Many more connections are
# allowed (poll, not select, has no 1024 limit), idle ones are closed sooner, and when the
# limit nears, the longest-idle connections with no request in flight are closed to make room.
CONNECTION_LIMIT = 1000
# A response under this size is sent by the event loop in one send() once its task ends (waitress
# pulls the loop's trigger then anyway). With waitress's 1, the worker sent the header and the
# body in two sends, each releasing the GIL to the loop and taking it back: a row by id at 16
# and 64 connections gained ~20% requests/s at 18000, and lost ~4% at 1 connection (the loop
# must wake to send). Larger responses still go out from the worker as they are written.
SEND_BYTES = 18000
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 10
EVICT_HEADROOM = 50


def watch_parent(pid: int, stop: threading.Event, on_death) -> threading.Thread:
    """Call ``on_death`` once ``pid`` has exited (or is a zombie)."""
    import psutil

    def _watch() -> None:
        while not stop.wait(PARENT_POLL_SECONDS):
            try:
                alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            if not alive:
                on_death(f"parent process {pid} is gone")
                return

    thread = threading.Thread(target=_watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def watch_stdin(on_stop) -> threading.Thread:
    """Call ``on_stop`` when stdin reaches EOF or reads a line "stop"."""

    def _watch() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        on_stop("stdin closed or 'stop' received")

    thread = threading.Thread(target=_watch, name="stdin-watch", daemon=True)
    thread.start()
    return thread


def _busy_channels(server) -> list:
    return [c for c in list(server.active_channels.values()) if c.requests or c.total_outbufs_len]


class QuietChannel(HTTPChannel):
    """waitress's channel, minus a busy loop.

    A worker thread sends its response itself (write_soon, under the channel's output lock).
    Meanwhile the event loop saw output waiting, called the channel writable, failed to take
    the lock and tried again at once: it spun, holding the GIL the worker needed to finish
    sending. At 64 connections GET /items/{id} fell from ~1,300 to ~100 requests/s at 10 ms
    of CPU per request. While the worker is sending, the loop has nothing to do: the worker
    sends the output, and the end of every task pulls the trigger so the loop looks again.
    """

    _worker_sending = False

    def write_soon(self, data):
        """waitress's write_soon, flagged while it runs (in the worker thread)."""
        self._worker_sending = True
        try:
            return super().write_soon(data)
        finally:
            self._worker_sending = False

    def writable(self):
        """Not writable while a running task's worker is sending; otherwise as waitress says."""
        # Above the high watermark the worker waits (lock released) for the loop to drain the
        # output: then the loop must see the channel as writable, or both would wait forever.
        if (
            self._worker_sending
            and self.requests
            and self.total_outbufs_len < self.adj.outbuf_high_watermark
            and not self.will_close
            and not self.close_when_flushed
        ):
            return False
        return super().writable()


def create_tuned_server(app, family: str, threads: int, **options):
    """waitress's create_server with the options that make a request cheap on ``family``."""
    with warnings.catch_warnings():
        # send_bytes is deprecated by waitress (its default became 1) but honoured by the
        # pinned 3.0.2; were it removed, create_server would refuse it and every start fail.
        warnings.filterwarnings("ignore", "send_bytes", DeprecationWarning)
        return create_server(
            app,
            threads=threads,
            # waitress's own argument for a dispatcher of one's choice ("test shim" in its source)
            _dispatcher=dispatcher_for(family, threads),
            send_bytes=SEND_BYTES,
            **options,
        )


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit of open files towards ``wanted`` (every connection holds one)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def evict_idle(server) -> int:
    """Close the longest-idle connections without a request in flight, when near the limit."""
    channels = server.active_channels
    excess = len(channels) - (server.adj.connection_limit - EVICT_HEADROOM)
    if excess <= 0:
        return 0
    # A half-sent request (a slow client) is not in flight: it has taken no worker yet.
    idle = [c for c in list(channels.values()) if not c.requests and not c.total_outbufs_len]
    idle.sort(key=lambda c: c.last_activity)
    for channel in idle[:excess]:
        channel.handle_close()
    return min(excess, len(idle))


def serve(
    app,
    settings: Settings,
    *,
    threads: int,
    parent_pid: int | None,
    revision: str,
    stop_on_stdin: bool = False,
) -> None:
    """Listen, print the ready line, and serve until asked to stop; then drain and return."""
    raise_open_files_limit(CONNECTION_LIMIT + 256)
    server = create_tuned_server(
        app,
        settings.database.family,
        threads,
        host=settings.host,
        port=settings.port,
        ident="local-data-service",
        clear_untrusted_proxy_headers=True,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
    )
    server.channel_class = QuietChannel
    port = int(server.effective_port)
    app.config["SERVED_PORT"] = port
    if settings.host not in LOOPBACK and not settings.auth_required:
        log.warning(
            "LISTENING ON %s WITH AUTH OFF: anyone who can reach this address acts as the "
            "superuser. Use --auth-required or bind 127.0.0.1.",
            settings.host,
        )

    stop = threading.Event()

    def request_stop(reason: str) -> None:
        if not stop.is_set():
            log.info("stopping: %s", reason)
            stop.set()
            server.pull_trigger()  # wake the event loop

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda n, _f: request_stop(signal.Signals(n).name))
    if parent_pid is not None:
        watch_parent(parent_pid, stop, request_stop)
    if stop_on_stdin:
        watch_stdin(request_stop)

    host = server.effective_host
    url_host = f"[{host}]" if ":" in str(host) else host
    ready = {
        "event": "ready",
        "url": f"http://{url_host}:{port}",
        "port": port,
        "pid": os.getpid(),
        "data_dir": str(settings.data_dir),
        "schema_revision": revision,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    log.info("serving on http://%s:%s", url_host, port)

    loop_timeout = server.adj.asyncore_loop_timeout
    while not stop.is_set():
        evict_idle(server)
        wasyncore.loop(timeout=loop_timeout, map=server._map, use_poll=True, count=1)
    _drain(server)


def _drain(server) -> None:
    # Stop accepting (close only the listening socket), let requests in flight finish within
    # DRAIN_SECONDS, then stop the worker threads.
    wasyncore.dispatcher.close(server)
    deadline = time.monotonic() + DRAIN_SECONDS
    for channel in list(server.active_channels.values()):
        if not channel.requests:
            channel.will_close = True
    while _busy_channels(server) and time.monotonic() < deadline:
        wasyncore.loop(timeout=0.05, map=server._map, use_poll=True, count=1)
    left = _busy_channels(server)
    if left:
        log.warning("%d request(s) still running at shutdown", len(left))
    server.task_dispatcher.shutdown(
        cancel_pending=True, timeout=max(0.1, deadline - time.monotonic())
    )
    wasyncore.close_all(server._map)
