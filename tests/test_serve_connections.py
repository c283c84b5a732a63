"""Connection exhaustion: idle and slow connections must not keep others from being served."""

from __future__ import annotations

import http.client
import json
import socket

from tests.procs import Service

IDLE = 300


def _health(service: Service) -> tuple[int, object]:
    # The timeout only turns a hang into a failure; it is not a speed target.
    conn = http.client.HTTPConnection(service.host, service.port, timeout=20)
    try:
        conn.request("GET", "/api/v1/utils/health-check/")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_health_check_is_served_while_300_idle_sockets_are_held(tmp_path):
    service = Service(tmp_path / "data", tmp_path / "serve.err")
    held: list[socket.socket] = []
    try:
        for n in range(IDLE):
            sock = socket.create_connection((service.host, service.port), timeout=10)
            if n % 3 == 0:  # some are slow instead of idle: half a request, never finished
                sock.sendall(b"GET /api/v1/utils/health-check/ HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        assert _health(service) == (200, True)
        status, _ = service.call("POST", "/api/v1/items/", {"title": "served"})
        assert status == 200
    finally:
        for sock in held:
            sock.close()
        service.stop()


def test_near_the_limit_the_longest_idle_connections_are_closed_never_a_busy_one():
    from waitress.adjustments import Adjustments

    from app.serve import EVICT_HEADROOM, QuietChannel, evict_idle

    class _Server:
        def __init__(self) -> None:
            self.adj = Adjustments(connection_limit=EVICT_HEADROOM + 3)
            self.active_channels: dict = {}

    server = _Server()
    pairs = [socket.socketpair() for _ in range(6)]
    try:
        channels = []
        for n, (left, _) in enumerate(pairs):
            channel = QuietChannel(server, left, ("127.0.0.1", 0), server.adj, map={})
            channel.last_activity = 1000 + n
            server.active_channels[left.fileno()] = channel
            channels.append(channel)
        channels[0].requests = ["in flight"]  # the oldest, but busy
        assert evict_idle(server) == 3
        open_now = set(server.active_channels.values())
        assert open_now == {channels[0], channels[4], channels[5]}
        assert evict_idle(server) == 0
    finally:
        for left, right in pairs:
            left.close()
            right.close()
