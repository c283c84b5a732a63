"""A service that has just started takes an immediate burst of 64 connections on an app database.

Issue 14: a crash inside sqlite3 was seen once while three worker threads opened their first
connections at the same moment. Each start here meets 64 clients released together, half of
them writing rows of an app model, on every backend, several times over.
"""

from __future__ import annotations

import threading

import pytest

from tests.procs import Service

CLIENTS = 64
STARTS = 4
MODEL = {
    "id": "burst",
    "name": "Burst",
    "definition": {
        "entities": [
            {"name": "note", "fields": [{"name": "title", "type": "String", "required": True}]}
        ],
        "relationships": [],
    },
}
ROWS = "/api/v1/models/burst/app-database/entities/note"


def _service(target, tmp_path, n: int) -> Service:
    url = None if target.family == "sqlite" else target.sa_url.render_as_string(hide_password=False)
    return Service(tmp_path / "data", tmp_path / f"serve{n}.err", database_url=url)


def _burst(service: Service, start: int) -> list:
    gate = threading.Barrier(CLIENTS)
    answers: list = [None] * CLIENTS

    def client(i: int) -> None:
        gate.wait()
        try:
            if i % 2:
                answers[i] = service.call("POST", ROWS, {"title": f"s{start} c{i}"})[0]
            else:
                answers[i] = service.call("GET", f"{ROWS}?limit=5")[0]
        except Exception as exc:  # noqa: BLE001 - a dropped connection is the failure to see
            answers[i] = repr(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.mark.slow
def test_a_fresh_service_serves_an_immediate_burst_of_64_connections(fresh_target, tmp_path):
    first = _service(fresh_target, tmp_path, 0)
    try:
        status, body = first.call("POST", "/api/v1/models/", MODEL)
        assert status == 200, body
    finally:
        first.stop()
    for start in range(1, STARTS + 1):
        service = _service(fresh_target, tmp_path, start)
        try:
            answers = _burst(service, start)
            alive = service.proc.poll() is None
            count = service.call("GET", f"{ROWS}?limit=1")
        finally:
            service.stop()
        assert answers == [200] * CLIENTS, answers
        assert alive
        assert count[0] == 200 and count[1]["count"] == start * CLIENTS // 2, count
