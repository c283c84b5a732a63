"""``python -m bench.peer serve [--port 0] [--data-dir DIR]``: run the peer under uvicorn.

Starts like ``python -m app serve`` so the benchmarks treat both alike: binds first (``--port 0``
picks a free port), runs the app's start-up (tables, local superuser), then prints one JSON ready
line on stdout; logs go to stderr; SIGTERM/SIGINT or the death of ``--parent-pid`` stop it
gracefully with exit 0. One uvicorn worker process, as a sidecar runs; uvicorn picks uvloop and
httptools when they are installed (requirements-bench.txt pins them), as ``fastapi run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

DATABASE_NAME = "peer.db"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the service's log format


def build_parser() -> argparse.ArgumentParser:
    """The peer's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the peer API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder of {DATABASE_NAME} (default: a new temporary folder)",
    )
    serve.add_argument("--parent-pid", type=int, help="exit when this process dies")
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one log line per request, as uvicorn (and the service) log by default",
    )
    return parser


def _watch_parent(pid: int, on_gone) -> None:
    # Poll: the parent is gone when signalling it fails or we were re-parented.
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


async def _serve(server, sock: socket.socket, ready: dict) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # start-up failed: raise its error
            raise SystemExit("the peer stopped before it was ready")
        await asyncio.sleep(0.002)
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await task


def serve(args: argparse.Namespace) -> int:
    """Bind, start uvicorn on the peer app, print the ready line, run until told to stop."""
    import uvicorn

    from bench.peer.app import create_app

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format=FORMAT)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-peer-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(data_dir / DATABASE_NAME),
        log_config=None,
        log_level=args.log_level.lower(),
        access_log=args.access_log,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it stopped on once it is done; these handlers swallow it so
    # the process exits 0 after a graceful stop, as the service does.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    if args.parent_pid:
        _watch_parent(args.parent_pid, lambda: setattr(server, "should_exit", True))
    ready = {
        "event": "ready",
        "url": f"http://{args.host}:{port}",
        "port": port,
        "pid": os.getpid(),
        "data_dir": str(data_dir),
    }
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(server, sock, ready))
    logging.getLogger("bench.peer").info("stopped cleanly")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command."""
    args = build_parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
