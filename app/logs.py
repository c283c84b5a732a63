"""Logging: stderr and a size-rotated file in {DATA_DIR}/logs/, one line per request."""

from __future__ import annotations

import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from flask import Flask, Response, g, request

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("app.request")


def configure(level: str, data_dir: Path | None) -> None:
    """Send logs to stderr and, with a data dir, to logs/service.log (never to stdout)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if data_dir is not None:
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        handlers.append(RotatingFileHandler(
            data_dir / "logs" / "service.log", maxBytes=5 * 1024 * 1024, backupCount=5,
            encoding="utf-8",
        ))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # waitress warns once per queued request ("Task queue depth"): noise under any real load.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if level != "DEBUG":
        # Alembic narrates every plugin and context at INFO; keep its real work only.
        logging.getLogger("alembic").setLevel(logging.WARNING)


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
