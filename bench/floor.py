"""The floor of this stack, for bench_startup: ``python -m bench.floor serve --port P``.

It imports what every request of the service needs at the least (Flask, pydantic and PyDAL),
then keeps the service's start-up contract just enough to be timed like it: one ready line on
stdout, ``true`` to any HTTP request, exit 0 on SIGTERM. Its ready time and idle RSS are what
no service on this stack can go below; bench_all sets the service's targets relative to them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

import flask  # noqa: F401 - the measured imports
import pydal  # noqa: F401
import pydantic  # noqa: F401

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
    b"Connection: close\r\n\r\ntrue"
)


def main(argv: list[str]) -> int:
    """Listen on --port, print the ready line, answer ``true`` until SIGTERM."""
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 0
    server = socket.create_server(("127.0.0.1", port))
    port = server.getsockname()[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ready = {"event": "ready", "url": f"http://127.0.0.1:{port}", "port": port, "pid": os.getpid()}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    while True:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(ANSWER)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
