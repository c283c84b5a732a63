"""Deletes of any depth (issue 14): deleting the head of a 1,050-deep chain of required
references answered 500 on SQLite ("too many levels of trigger recursion"), by REST and by sync;
MariaDB stops nested cascades at 15 levels."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import API
from tests.appdb.test_handles import ok

M = f"{API}/models"
DEPTH = 2000
CHAIN = {
    "id": "chain",
    "name": "Chain",
    "definition": {
        "entities": [
            {"name": "head", "fields": [{"name": "label", "type": "String"}]},
            {
                "name": "link",
                "fields": [
                    {"name": "label", "type": "String"},
                    {"name": "head_ref", "type": "Reference", "target": "head"},
                    {"name": "up", "type": "Reference", "target": "link"},
                ],
            },
        ],
        "relationships": [],
    },
}


def _required_chain() -> dict:
    # ``up`` required: each link is deleted with the one it hangs from. The first link hangs
    # from itself (a required self-reference needs a start).
    body = {**CHAIN, "definition": {**CHAIN["definition"]}}
    link = dict(CHAIN["definition"]["entities"][1])
    link["fields"] = [dict(f) for f in link["fields"]]
    link["fields"][2]["required"] = True
    body["definition"]["entities"] = [CHAIN["definition"]["entities"][0], link]
    return body


def _build(client, ids: list[str]) -> None:
    stamp = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    ops = [
        {
            "id": uuid.uuid4().hex,
            "table": "models/chain/link",
            "operation": "INSERT",
            "data": {"id": ids[i], "label": f"l{i}", "up": ids[max(i - 1, 0)]},
            "timestamp": stamp,
        }
        for i in range(len(ids))
    ]
    for start in range(0, len(ops), 1000):
        body = {"client_id": "builder", "operations": ops[start : start + 1000], "limit": 1}
        out = ok(client.post(f"{API}/sync", json=body))
        assert out["conflicts"] == [], out["conflicts"][:3]


@pytest.mark.parametrize("via", ["rest", "sync"])
def test_deleting_the_head_of_a_2000_deep_required_chain_deletes_it_all(make_app, via):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=_required_chain()))
    ids = [str(uuid.uuid4()) for _ in range(DEPTH)]
    _build(client, ids)
    rows = f"{M}/chain/app-database/entities/link"
    assert ok(client.get(f"{rows}?limit=1"))["count"] == DEPTH
    if via == "rest":
        ok(client.delete(f"{rows}/{ids[0]}"))
    else:
        stamp = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
        op = {
            "id": uuid.uuid4().hex,
            "table": "models/chain/link",
            "operation": "DELETE",
            "data": {"id": ids[0]},
            "timestamp": stamp,
        }
        out = ok(client.post(f"{API}/sync", json={"client_id": "c", "operations": [op]}))
        assert out["conflicts"] == [] and out["changes_applied"] == [op["id"]]
    assert ok(client.get(f"{rows}?limit=1"))["count"] == 0
