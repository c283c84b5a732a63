"""Logging: stderr and a size-rotated file in {DATA_DIR}/logs/, one line per request."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import time
from logging.handlers import QueueHandler, QueueListener, RotatingFileHandler
from pathlib import Path

from flask import Flask, Response, g, request

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_LOG_BYTES = 5 * 1024 * 1024
log = logging.getLogger("app.request")
_listener: QueueListener | None = None


class LogFile(RotatingFileHandler):
    """A size-rotated log file, written per record and flushed once per batch of records.

    The standard handler, for every record, formats it twice, stats the file twice, seeks to
    its end and flushes: at 64 clients the request log was about a tenth of the service's
    CPU. This one counts the bytes it wrote instead, and leaves flushing to the writer
    thread, which flushes whenever it has nothing more queued: a line waits only for the
    lines queued with it.
    """

    def _open(self):
        stream = super()._open()
        self.size = os.fstat(stream.fileno()).st_size
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``, rotating first if it would take the file past ``maxBytes``."""
        try:
            text = self.format(record) + self.terminator
            size = len(text.encode(self.encoding or "utf-8", "backslashreplace"))
            if self.stream is None:
                self.stream = self._open()
            if self.size and self.size + size > self.maxBytes:
                self.doRollover()
            self.stream.write(text)
            self.size += size
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Nothing: StreamHandler calls this after every record; see ``flush_batch``."""

    def flush_batch(self) -> None:
        """Flush what the records written since the last call left in the buffer."""
        super().flush()


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is written, not when it was made.

    The writer thread outlives whoever replaced sys.stderr meanwhile (a test capturing it):
    a handler holding the replaced stream wrote to a closed file.
    """

    @property
    def stream(self):
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _Listener(QueueListener):
    """The writer thread: flushes the log file once no record is left queued."""

    def handle(self, record: logging.LogRecord) -> None:
        """Hand ``record`` to the handlers; flush the file if it was the last one queued."""
        super().handle(record)
        if self.queue.empty():
            for handler in self.handlers:
                if isinstance(handler, LogFile):
                    handler.flush_batch()


def configure(level: str, data_dir: Path | None) -> None:
    """Send logs to stderr and, with a data dir, to logs/service.log (never to stdout)."""
    global _listener
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    _stop_listener()
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [_Stderr()]
    if data_dir is not None:
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        handlers.append(
            LogFile(
                data_dir / "logs" / "service.log",
                maxBytes=MAX_LOG_BYTES,
                backupCount=5,
                encoding="utf-8",
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
    # Request threads only queue their records; one thread writes them. Writing and flushing
    # under each handler's lock from every waitress thread cost ~9% of a request at 64 clients.
    records: queue.SimpleQueue = queue.SimpleQueue()
    root.addHandler(QueueHandler(records))
    _listener = _Listener(records, *handlers, respect_handler_level=True)
    _listener.start()
    root.setLevel(level)
    # waitress warns once per queued request ("Task queue depth"): noise under any real load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if level != "DEBUG":
        # Alembic narrates every plugin and context at INFO; keep its real work only.
        logging.getLogger("alembic").setLevel(logging.WARNING)


@atexit.register
def _stop_listener() -> None:
    # Writes out what is queued, then closes the handlers it wrote to.
    global _listener
    if _listener is None:
        return
    _listener.stop()
    for handler in _listener.handlers:
        handler.close()
    _listener = None


def init_app(app: Flask) -> None:
    """Log method, path, status and duration of every request (no query, headers or body)."""
    app.before_request(_start)
    app.after_request(_line)


def _start() -> None:
    g.request_started = time.perf_counter()


def _line(response: Response) -> Response:
    started = g.get("request_started")
    duration = (time.perf_counter() - started) * 1000 if started else 0.0
    log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, duration)
    return response
