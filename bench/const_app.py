"""The ceiling for bench-api: a bare Flask app with one constant JSON route, served by waitress.

``python -m bench.const_app --port 0 [--threads N]`` starts it the way ``python -m app serve``
starts the service (waitress ``create_server`` with the service's options for SQLite,
``app.serve.create_tuned_server``, the same thread count, stops on SIGTERM/SIGINT) and
prints one JSON ready line on stdout, so the benchmark treats both servers identically. It has no
database, no validation, no auth and no hooks: whatever the service costs above it is the price of
the stack and the work.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from flask import Flask

PATH = "/const"
RAW_PAGE_PATH = "/raw-page"
CONSTANT = {"ok": True, "n": 1}
FALLBACK_THREADS = 4  # waitress threads when app.cli cannot be read


def serve_default_threads() -> int:
    """The waitress thread count ``python -m app serve`` uses when not told otherwise."""
    try:
        from app.cli import build_parser

        return int(build_parser().parse_args(["serve"]).threads)
    except Exception:  # noqa: BLE001 - the service's CLI is someone else's; never fail on it
        return FALLBACK_THREADS


def create_app(raw_db: str | None = None) -> Flask:
    """One route, one constant body, serialised by Flask's JSON provider like any dict return.

    With ``raw_db``, a second route answers the items page read from that file with raw
    sqlite3 (bench_api's raw_page, one connection per thread): the page with no framework but
    the HTTP server, the ceiling for the service's list endpoint at the same concurrency.
    """
    app = Flask(__name__)

    @app.get(PATH)
    def constant():
        return CONSTANT

    if raw_db:
        from flask import Response

        from bench.bench_api import raw_connect, raw_page

        local = threading.local()

        @app.get(RAW_PAGE_PATH)
        def page():
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = raw_connect(raw_db)
            return Response(raw_page(conn), mimetype="application/json")

    return app


def _watch_parent(pid: int, on_gone) -> None:
    # Poll: the parent is gone when signalling it fails (or we were re-parented).
    def loop() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                on_gone()
                return
            except PermissionError:
                pass
            if os.getppid() != pid:
                on_gone()
                return

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.const_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="waitress worker threads (default: what python -m app serve uses)",
    )
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument(
        "--raw-db", help=f"serve {RAW_PAGE_PATH}: the items page read from this SQLite file"
    )
    args = parser.parse_args(argv)
    threads = args.threads or serve_default_threads()

    # The same logging set-up as the service, so waitress' queue warnings look alike in both.
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from app.serve import create_tuned_server

    # Served as the service is on its default SQLite: a ceiling with the same server tuning.
    server = create_tuned_server(
        create_app(args.raw_db),
        "sqlite",
        threads,
        host=args.host,
        port=args.port,
        ident="const-app",
    )

    def _stop(signum, _frame):
        logging.getLogger("bench.const_app").info("signal %s: shutting down", signum)
        server.close()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.parent_pid:
        _watch_parent(args.parent_pid, lambda: os.kill(os.getpid(), signal.SIGTERM))
    port = int(server.effective_port)
    ready = {
        "event": "ready",
        "url": f"http://{server.effective_host}:{port}",
        "port": port,
        "pid": os.getpid(),
        "path": PATH,
        "threads": threads,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        server.run()
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
