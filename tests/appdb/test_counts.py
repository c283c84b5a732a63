"""A page's count is kept until the app database changes (services/appdb/counts.py), and is
right after every kind of write: through the API, through another connection or process, by a
seed, by emptying; on a server database nothing is kept and every count is right too."""

from __future__ import annotations

import sqlite3
import uuid

from tests.appdb.test_handles import M, model, ok

PAGE = "?limit=5&sort=title&stars=3"


def _count_statements(app, model_id: str) -> int:
    handle = app.extensions["app_handles"]._handles[model_id]
    # The page's count, not the ManyToMany lists' link counts (their own GROUP BY query).
    return sum(1 for sql, _ in handle.db._timings if "COUNT(*)" in sql.upper())


def _forget_statements(app, model_id: str) -> None:
    del app.extensions["app_handles"]._handles[model_id].db._timings[:]


def test_a_count_is_read_once_while_nothing_writes(make_app, backend):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("kept")))
    rows = f"{M}/kept/app-database/entities/note"
    for n in range(7):
        ok(client.post(rows, json={"title": f"t{n}", "stars": 3 if n % 2 else 1}))
    _forget_statements(app, "kept")
    pages = [ok(client.get(rows + PAGE + f"&offset={o}")) for o in (0, 5, 0, 5)]
    assert [p["count"] for p in pages] == [3, 3, 3, 3]
    assert [len(p["data"]) for p in pages] == [3, 0, 3, 0]
    # SQLite keeps the count; a server database (shared with other processes) counts each time.
    assert _count_statements(app, "kept") == (1 if backend == "sqlite" else 4)


def test_a_kept_count_follows_every_write(make_app):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("moving")))
    rows = f"{M}/moving/app-database/entities/note"

    def count() -> int:
        return ok(client.get(rows + PAGE))["count"]

    assert count() == 0
    made = ok(client.post(rows, json={"title": "a", "stars": 3}))
    assert count() == 1
    ok(client.patch(f"{rows}/{made['id']}", json={"stars": 1}))
    assert count() == 0
    ok(client.patch(f"{rows}/{made['id']}", json={"stars": 3}))
    assert count() == 1
    ok(client.delete(f"{rows}/{made['id']}"))
    assert count() == 0
    ok(
        client.post(
            f"{M}/moving/app-database/seed", json={"max_instances_per_entity": 10, "seed": 1}
        )
    )
    assert ok(client.get(rows + "?limit=1"))["count"] >= 1
    assert count() == sum(
        1 for r in ok(client.get(rows + "?limit=1000"))["data"] if r["stars"] == 3
    )
    ok(client.delete(f"{M}/moving/app-database"))
    assert ok(client.get(rows + "?limit=1"))["count"] == 0
    assert count() == 0


def test_a_kept_count_follows_a_write_by_another_process(make_app, backend, tmp_path):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("common")))
    rows = f"{M}/common/app-database/entities/note"
    ok(client.post(rows, json={"title": "a", "stars": 3}))
    assert ok(client.get(rows + PAGE))["count"] == 1
    handle = app.extensions["app_handles"]._handles["common"]
    if backend == "sqlite":
        # Another process's connection: nothing of this handle sees the write but the file.
        other = sqlite3.connect(handle.app_db.target.sqlite_path)
        try:
            other.execute(
                "INSERT INTO note (id, created_at, updated_at, title, stars) "
                "VALUES (?, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'b', 3)",
                (uuid.uuid4().hex,),
            )
            other.commit()
        finally:
            other.close()
    else:
        second = make_app()  # another service process on the same server database
        ok(second.test_client().post(rows, json={"title": "b", "stars": 3}))
    assert ok(client.get(rows + PAGE))["count"] == 2
