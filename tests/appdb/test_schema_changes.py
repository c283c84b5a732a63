"""Schema changes of one model run one at a time; a row write racing a delete is 404 or 409
(issue 14: concurrent PUTs answered 500s, a row write racing a delete answered 500)."""

from __future__ import annotations

import copy
import threading

from services.appdb import locks
from tests.api.conftest import API
from tests.appdb.test_handles import model, ok

M = f"{API}/models"
PUTS = 6


def _with_field(model_id: str, n: int) -> dict:
    body = model(model_id)
    body["definition"] = copy.deepcopy(body["definition"])
    body["definition"]["entities"][0]["fields"].append({"name": f"extra{n}", "type": "Integer"})
    return body


def _together(work, count: int) -> list:
    gate = threading.Barrier(count)
    out: list = [None] * count

    def run(i: int) -> None:
        gate.wait()
        out[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return out


def test_many_concurrent_puts_of_one_model_answer_200_or_409_and_leave_it_in_sync(
    make_app, backend
):
    app = make_app()
    ok(app.test_client().post(f"{M}/", json=model("contended")))
    ok(app.test_client().post(f"{M}/contended/app-database/entities/note", json={"title": "a"}))

    def put(i: int):
        response = app.test_client().put(
            f"{M}/contended?allow_destructive=true", json=_with_field("contended", i)
        )
        return response.status_code, response.get_json()

    answers = _together(put, PUTS)
    codes = [code for code, _ in answers]
    assert set(codes) <= {200, 409} and 200 in codes, answers
    status = ok(app.test_client().get(f"{M}/contended/app-database/status"))
    assert status["in_sync"] is True, status
    assert status["entity_counts"]["note"] == 1


def test_a_change_that_cannot_get_its_turn_answers_409_saying_to_retry(make_app, monkeypatch):
    app = make_app()
    ok(app.test_client().post(f"{M}/", json=model("held")))
    monkeypatch.setattr(locks, "WAIT_S", 0.5)
    with locks.model_lock(settings=app.config["SETTINGS"], model_id="HELD"):
        response = app.test_client().put(f"{M}/held", json=_with_field("held", 1))
        deleted = app.test_client().delete(f"{M}/held")
    assert response.status_code == 409, response.get_json()
    assert "retry" in response.get_json()["detail"]
    assert deleted.status_code == 409
    ok(app.test_client().get(f"{M}/held"))


ANSWERS = {200, 404, 409}


def test_row_writes_racing_a_model_delete_answer_200_404_or_409(make_app):
    app = make_app()
    ok(app.test_client().post(f"{M}/", json=model("doomed")))
    rows = f"{M}/doomed/app-database/entities/note"
    writers = 6

    def work(i: int):
        client = app.test_client()
        if i == 0:
            return [client.delete(f"{M}/doomed").status_code]
        answers = [client.post(rows, json={"title": f"w{i} {n}"}) for n in range(15)]
        # An unexpected answer carries its body, for the failure message.
        return [a.status_code if a.status_code in ANSWERS else str(a.get_json()) for a in answers]

    answers = _together(work, writers + 1)
    assert answers[0] == [200]
    seen = {code for codes in answers[1:] for code in codes}
    assert seen <= ANSWERS, seen - ANSWERS
    assert app.test_client().get(rows).status_code == 404
