"""App database handles: built once per definition version, bounded, shared by worker threads.

Issue 14 measured ~90 KB kept for good by every request on an app database: a DAL with its
tables was built per request and stayed in PyDAL's thread-local registry. These tests count
live DAL objects and open handles instead of timing anything.
"""

from __future__ import annotations

import copy
import gc
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from pydal import DAL

from tests.api.conftest import API
from tests.appdb.conftest import CAPACITY

# An empty page of rows, as served.
EMPTY_PAGE = {"data": [], "count": 0, "truncated": False, "next_offset": None}

M = f"{API}/models"

MODEL = {
    "name": "Notes",
    "definition": {
        "entities": [
            {
                "name": "note",
                "display_name": "Note",
                "fields": [
                    {"name": "title", "type": "String", "required": True},
                    {"name": "stars", "type": "Integer"},
                ],
            },
            {"name": "tag", "fields": [{"name": "label", "type": "String"}]},
        ],
        "relationships": [{"type": "ManyToMany", "from": "note", "to": "tag", "name": "tags"}],
    },
}

FULL = os.environ.get("HARNESS_PROFILE") == "full"  # make stress


def model(model_id: str, **changes) -> dict:
    body = copy.deepcopy(MODEL) | {"id": model_id}
    body.update(changes)
    return body


def live_dal_objects() -> int:
    """DAL objects alive anywhere in the process (every thread's registry included)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, DAL))


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def sync_op(model_id: str, title: str) -> dict:
    stamp = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    return {
        "client_id": "c1",
        "scope": f"models/{model_id}",
        "operations": [
            {
                "id": uuid.uuid4().hex,
                "table": f"models/{model_id}/note",
                "operation": "INSERT",
                "data": {"id": str(uuid.uuid4()), "title": title},
                "timestamp": stamp,
            }
        ],
    }


def one_round(app, model_id: str, n: int) -> int:
    """Requests of every kind on one model (a create and delete in five); returns how many."""
    client = app.test_client()
    sent = 0

    def call(method: str, path: str, status: int = 200, **kw):
        nonlocal sent
        sent += 1
        return ok(client.open(path, method=method, **kw), status)

    call("POST", f"{API}/items/", json={"title": f"item {n}"})
    call("GET", f"{API}/items/?limit=5")
    rows = f"{M}/{model_id}/app-database/entities/note"
    for _ in range(3):
        row = call("POST", rows, json={"title": f"note {n}", "stars": n % 5})
        call("GET", f"{rows}?limit=5&sort=-created_at")
        call("PATCH", f"{rows}/{row['id']}", json={"stars": 4})
        call("GET", f"{rows}/{row['id']}")
        call("DELETE", f"{rows}/{row['id']}")
    call("GET", f"{M}/{model_id}/app-database/entities")
    call("GET", f"{M}/{model_id}/app-database/status")
    call("POST", f"{API}/sync", json=sync_op(model_id, f"synced {n}"))
    call("POST", f"{M}/{model_id}/app-database/seed", json={"max_instances_per_entity": 1})
    if n % 5 == 0:
        scratch = f"scratch-{uuid.uuid4().hex[:8]}"
        call("POST", f"{M}/", json=model(scratch))
        call("POST", f"{M}/{scratch}/app-database/entities/note", json={"title": "x"})
        call("DELETE", f"{M}/{scratch}")
    return sent


def test_live_dals_and_handles_stay_bounded_over_thousands_of_requests_of_every_kind(
    make_app, backend
):
    # make test: about 2,600 requests on SQLite and 650 on each server (a server round costs
    # several times more); make stress (HARNESS_PROFILE=full): about 2,600 on every backend.
    rounds = 40 if FULL or backend == "sqlite" else 10
    # DALs other tests of this worker process still hold are not this app's: count from here.
    elsewhere = live_dal_objects()
    app = make_app()
    handles = app.extensions["app_handles"]
    model_ids = ["alpha", "beta", "gamma"]  # one more than the cache holds: evictions too
    client = app.test_client()
    for model_id in model_ids:
        ok(client.post(f"{M}/", json=model(model_id)))

    # One long-lived worker thread per model, as waitress's threads serving three clients: a
    # DAL left in a thread's PyDAL registry lives as long as the thread.
    with ThreadPoolExecutor(len(model_ids)) as pool:

        def traffic(rounds: range) -> int:
            work = [
                pool.submit(lambda m: sum(one_round(app, m, n) for n in rounds), m)
                for m in model_ids
            ]
            return sum(w.result() for w in work)

        traffic(range(2))
        before = live_dal_objects()
        sent = traffic(range(2, 2 + rounds))
        after = live_dal_objects()
    assert sent >= 60 * rounds
    assert len(handles) <= CAPACITY
    # Nothing per request: the main DAL, one per cached handle, and at most one per worker
    # thread still letting go of a handle another thread evicted when counted. The same bound
    # after some 100 requests and after thousands: what is alive does not grow with them.
    bound = elsewhere + 1 + CAPACITY + len(model_ids)
    assert before <= bound and after <= bound, (elsewhere, before, after)
    assert handles.idle_connections() <= CAPACITY * 4


def test_a_handle_notices_that_another_process_changed_the_model(make_app):
    first, second = make_app(), make_app()  # two services on one database
    entities = f"{M}/pooled/app-database/entities"
    ok(first.test_client().post(f"{M}/", json=model("pooled")))
    assert ok(first.test_client().get(entities))[0]["display_name"] == "Note"
    renamed = model("pooled")
    renamed["definition"]["entities"][0]["display_name"] = "Memo"
    ok(second.test_client().put(f"{M}/pooled", json=renamed))
    assert ok(first.test_client().get(entities))[0]["display_name"] == "Memo"


def test_a_model_deleted_and_created_again_never_serves_the_old_rows(make_app):
    app = make_app()
    client = app.test_client()
    rows = f"{M}/again/app-database/entities/note"
    ok(client.post(f"{M}/", json=model("again")))
    ok(client.post(rows, json={"title": "old secret"}))
    assert ok(client.get(rows))["count"] == 1
    ok(client.delete(f"{M}/again"))
    ok(client.post(f"{M}/", json=model("again")))
    assert ok(client.get(rows)) == EMPTY_PAGE


def test_threads_share_one_handle_and_leave_nothing_in_their_locals(make_app):
    app = make_app()
    handles = app.extensions["app_handles"]
    ok(app.test_client().post(f"{M}/", json=model("busy")))
    rows = f"{M}/busy/app-database/entities/note"

    def write(n: int) -> None:
        ok(app.test_client().post(rows, json={"title": f"t{n}"}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))
    assert ok(app.test_client().get(rows))["count"] == 200
    assert len(handles) == 1
    handle = handles._handles["busy"]
    assert handle.idle <= 4


def test_a_row_request_on_an_open_handle_reads_one_model_stamp_and_no_definition(make_app, backend):
    # The ownership and version check of every row request: the definition (JSON, parsed) is
    # read only to build a handle, not by the requests the handle then serves; on SQLite the
    # check is kept until the main database changes (services/db/unchanged.py).
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("light")))
    rows = f"{M}/light/app-database/entities/note"
    made = ok(client.post(rows, json={"title": "t"}))
    ok(client.post(f"{API}/items/", json={"title": "a write to the main database"}))
    main = app.extensions["dal"]
    del main._timings[:]
    assert ok(client.get(f"{rows}/{made['id']}"))["title"] == "t"
    statements = [sql for sql, _ in main._timings if "app_model" in sql]
    assert len(statements) == 1, statements
    assert "definition" not in statements[0] and "version" in statements[0], statements
    del main._timings[:]
    assert ok(client.get(f"{rows}/{made['id']}"))["title"] == "t"
    again = [sql for sql, _ in main._timings if "app_model" in sql]
    assert len(again) == (0 if backend == "sqlite" else 1), again


def test_a_kept_ownership_check_follows_each_change_of_the_main_database(make_app, backend):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("owned")))
    rows = f"{M}/owned/app-database/entities/note"
    made = ok(client.post(rows, json={"title": "t"}))
    entities = f"{M}/owned/app-database/entities"
    assert ok(client.get(entities))[0]["display_name"] == "Note"
    renamed = model("owned")
    renamed["definition"]["entities"][0]["display_name"] = "Memo"
    ok(client.put(f"{M}/owned", json=renamed))  # a new version, served by a new handle
    assert ok(client.get(entities))[0]["display_name"] == "Memo"
    ok(client.delete(f"{M}/owned"))
    ok(client.get(f"{rows}/{made['id']}"), 404)
    # Another service process on the same main database (a write this app never saw).
    ok(client.post(f"{M}/", json=model("owned")))
    made = ok(client.post(rows, json={"title": "t"}))
    ok(client.get(f"{rows}/{made['id']}"))
    ok(make_app().test_client().delete(f"{M}/owned"))
    ok(client.get(f"{rows}/{made['id']}"), 404)
