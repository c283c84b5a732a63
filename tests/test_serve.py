"""The waitress wiring: QuietChannel keeps the event loop from spinning on a channel whose
worker is sending, and every response still arrives whole under concurrency."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import threading
import time

from waitress.adjustments import Adjustments

from app.serve import QuietChannel
from tests.procs import Service


class _Server:
    """Just what a channel asks of its server when it is made."""

    def __init__(self) -> None:
        self.adj = Adjustments()
        self.active_channels = {}


def _channel(sock: socket.socket) -> QuietChannel:
    return QuietChannel(_Server(), sock, ("127.0.0.1", 0), Adjustments(), map={})


def test_a_channel_is_not_writable_while_its_worker_sends():
    left, right = socket.socketpair()
    try:
        channel = _channel(left)
        channel.requests = ["a running task"]
        channel.total_outbufs_len = 151  # the response headers, being sent by the worker
        channel._worker_sending = True
        assert not channel.writable()
        channel._worker_sending = False  # the worker is done: waitress decides again
        assert channel.writable()
        channel._worker_sending = True
        channel.total_outbufs_len = channel.adj.outbuf_high_watermark + 1
        assert channel.writable()  # the worker waits for the loop to drain it
        channel.total_outbufs_len, channel.will_close = 151, True
        assert channel.writable()  # closing is the loop's job
    finally:
        left.close()
        right.close()


def test_large_pages_arrive_whole_to_many_clients_at_once(tmp_path):
    service = Service(tmp_path / "data", tmp_path / "serve.err")
    try:
        ops = [
            {
                "id": f"op{i}",
                "table": "items",
                "operation": "INSERT",
                "timestamp": "2026-01-01T00:00:00Z",
                "data": {"id": f"00000000-0000-4000-8000-{i:012d}", "title": "t" * 200},
            }
            for i in range(600)
        ]
        status, out = service.call("POST", "/api/v1/sync", {"client_id": "c", "operations": ops})
        assert status == 200 and len(out["changes_applied"]) == 600, out
        pages: list = []
        errors: list = []

        def fetch() -> None:
            conn = http.client.HTTPConnection(service.host, service.port, timeout=60)
            try:
                for _ in range(5):  # keep-alive: several large responses on one connection
                    conn.request("GET", "/api/v1/items/?limit=1000")
                    response = conn.getresponse()
                    pages.append((response.status, json.loads(response.read())["count"]))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=fetch) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors[:3]
        assert pages == [(200, 600)] * 120
    finally:
        service.stop()


def test_a_client_beyond_100_open_keep_alive_connections_is_still_served(tmp_path):
    service = Service(tmp_path / "data", tmp_path / "serve.err")
    held: list[http.client.HTTPConnection] = []
    try:
        for _ in range(101):  # waitress's default limit is 100 open connections
            conn = http.client.HTTPConnection(service.host, service.port, timeout=30)
            conn.request("GET", "/api/v1/utils/health-check/")
            response = conn.getresponse()
            assert (response.status, json.loads(response.read())) == (200, True)
            held.append(conn)  # kept open: keep-alive
        late = http.client.HTTPConnection(service.host, service.port, timeout=10)
        late.request("GET", "/api/v1/utils/health-check/")
        assert late.getresponse().status == 200
        late.close()
    finally:
        for conn in held:
            conn.close()
        service.stop()
    assert "connection limit" not in service.stderr_path.read_text(errors="replace")


def test_a_request_waiting_for_the_sqlite_write_lock_does_not_hold_up_the_others(tmp_path):
    # On SQLite the workers take requests one at a time (app/dispatch.py); a request stuck
    # behind another process's write lock must still let the others through.
    service = Service(tmp_path / "data", tmp_path / "serve.err")
    other = sqlite3.connect(tmp_path / "data" / "app.db", isolation_level=None)
    posted: list = []
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing: the service's POST waits
        writer = threading.Thread(
            target=lambda: posted.append(service.call("POST", "/api/v1/items/", {"title": "w"}))
        )
        writer.start()
        time.sleep(0.5)  # the POST is waiting (busy_timeout is 5 s)
        for _ in range(5):
            assert service.call("GET", "/api/v1/utils/health-check/", timeout=3) == (200, True)
            assert service.call("GET", "/api/v1/items/?limit=1", timeout=3)[0] == 200
        assert writer.is_alive() and not posted  # all answered while the POST still waited
        other.execute("ROLLBACK")
        writer.join(timeout=30)
        assert [status for status, _ in posted] == [200]
    finally:
        other.close()
        service.stop()


def test_the_service_options_reach_waitress():
    from app.dispatch import OneAtATimeDispatcher
    from app.serve import SEND_BYTES, create_tuned_server

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    server = create_tuned_server(app, "sqlite", 2, host="127.0.0.1", port=0)
    try:
        assert server.adj.send_bytes == SEND_BYTES and server.adj.threads == 2
        assert isinstance(server.task_dispatcher, OneAtATimeDispatcher)
    finally:
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
