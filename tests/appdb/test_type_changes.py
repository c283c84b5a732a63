"""Type changes keep every row readable (issue 14, item 5): each stored value is converted or set
to NULL, a required field refuses values that do not convert, and the plan and the answer count
both. Measured before: String -> Date answered 200, then every read of the entity and every sync
of its database answered 500."""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.api.conftest import API
from tests.appdb.test_handles import ok

M = f"{API}/models"

FIELDS = [
    {"name": "label", "type": "String"},
    {"name": "code", "type": "String", "required": True},
    {"name": "count", "type": "Integer"},
    {"name": "day", "type": "Date"},
    {"name": "tier", "type": "Enum", "values": ["free", "pro", "gold"]},
]


def body(model_id: str, **types) -> dict:
    """The model with some fields' types (or whole field dicts) changed."""
    fields = copy.deepcopy(FIELDS)
    for f in fields:
        change = types.get(f["name"])
        if isinstance(change, dict):
            f.update(change)
        elif change:
            f["type"] = change
    return {
        "id": model_id,
        "name": "Events",
        "definition": {"entities": [{"name": "event", "fields": fields}]},
    }


def _model(app, rows: list[dict]) -> tuple[str, list[str]]:
    model_id = f"ev-{uuid.uuid4().hex[:8]}"
    client = app.test_client()
    ok(client.post(f"{M}/", json=body(model_id)))
    ids = [
        ok(client.post(f"{M}/{model_id}/app-database/entities/event", json=r))["id"] for r in rows
    ]
    return model_id, ids


def _every_row_reads(app, model_id: str, ids: list[str]) -> list[dict]:
    client = app.test_client()
    got = [ok(client.get(f"{M}/{model_id}/app-database/entities/event/{i}")) for i in ids]
    listed = ok(client.get(f"{M}/{model_id}/app-database/entities/event"))
    assert listed["count"] == len(ids)
    pulled = ok(client.post(f"{API}/sync", json={"client_id": "c1", "scope": f"models/{model_id}"}))
    assert len(pulled["changes"]) == len(ids), pulled
    status = ok(client.get(f"{M}/{model_id}/app-database/status"))
    assert status["in_sync"] is True, status
    return got


def _change(app, model_id: str, **types) -> tuple[list[dict], list[dict]]:
    """Dry run, then apply: the conversions each reported."""
    client = app.test_client()
    planned = ok(client.put(f"{M}/{model_id}?dry_run=true", json=body(model_id, **types)))
    applied = ok(client.put(f"{M}/{model_id}?allow_destructive=true", json=body(model_id, **types)))
    assert applied["sync"]["applied"] is True
    return planned["sync"]["conversions"], applied["sync"]["conversions"]


def _counts(conversions: list[dict]) -> dict[str, tuple[int, int]]:
    return {c["column"]: (c["converted"], c["nulled"]) for c in conversions}


def test_string_to_date_converts_what_parses_and_nulls_the_rest(make_app):
    app = make_app()
    rows = [
        {"code": "a", "label": "2024-03-01"},
        {"code": "b", "label": "not a date"},
        {"code": "c", "label": "2024-02-30"},
        {"code": "d", "label": " 2023-12-31T10:00:00 "},
        {"code": "e"},
    ]
    model_id, ids = _model(app, rows)
    planned, applied = _change(app, model_id, label="Date")
    assert _counts(planned) == _counts(applied) == {"label": (2, 2)}
    assert applied[0]["from_type"] == "string" and applied[0]["to_type"] == "Date"
    got = _every_row_reads(app, model_id, ids)
    assert [r["label"] for r in got] == ["2024-03-01", None, None, "2023-12-31", None]


def test_date_to_datetime_keeps_the_day_at_midnight(make_app):
    app = make_app()
    model_id, ids = _model(app, [{"code": "a", "day": "2024-03-01"}, {"code": "b"}])
    planned, applied = _change(app, model_id, day="DateTime")
    assert _counts(planned) == _counts(applied) == {"day": (1, 0)}
    got = _every_row_reads(app, model_id, ids)
    assert got[0]["day"].startswith("2024-03-01T00:00:00"), got[0]
    assert got[1]["day"] is None


def test_string_to_integer_and_integer_to_string(make_app):
    app = make_app()
    rows = [
        {"code": "a", "label": "41", "count": 7},
        {"code": "b", "label": "4.0", "count": -3},
        {"code": "c", "label": "four", "count": 0},
        {"code": "d", "label": "99999999999999999999999"},
    ]
    model_id, ids = _model(app, rows)
    planned, applied = _change(app, model_id, label="Integer", count="String")
    assert _counts(planned) == _counts(applied) == {"label": (2, 2), "count": (3, 0)}
    got = _every_row_reads(app, model_id, ids)
    assert [r["label"] for r in got] == [41, 4, None, None]
    assert [r["count"] for r in got] == ["7", "-3", "0", None]


def test_removed_enum_members_become_null(make_app):
    app = make_app()
    model_id, ids = _model(
        app, [{"code": "a", "tier": "free"}, {"code": "b", "tier": "gold"}, {"code": "c"}]
    )
    change = {"tier": {"values": ["free", "pro"]}}
    planned, applied = _change(app, model_id, **change)
    assert _counts(planned) == _counts(applied) == {"tier": (1, 1)}
    got = _every_row_reads(app, model_id, ids)
    assert [r["tier"] for r in got] == ["free", None, None]


def test_a_required_field_whose_values_do_not_convert_refuses_and_changes_nothing(make_app):
    app = make_app()
    model_id, ids = _model(app, [{"code": "7"}, {"code": "abc"}, {"code": "x9"}])
    client = app.test_client()
    planned = ok(client.put(f"{M}/{model_id}?dry_run=true", json=body(model_id, code="Integer")))
    assert _counts(planned["sync"]["conversions"]) == {"code": (1, 2)}
    assert planned["sync"]["conversions"][0]["required"] is True
    refused = client.put(
        f"{M}/{model_id}?allow_destructive=true", json=body(model_id, code="Integer")
    )
    assert refused.status_code == 409, refused.get_json()
    detail = refused.get_json()["detail"]
    assert "event.code" in detail and "2 stored value(s)" in detail, detail
    assert ok(client.get(f"{M}/{model_id}"))["version"] == 1
    got = _every_row_reads(app, model_id, ids)
    assert [r["code"] for r in got] == ["7", "abc", "x9"]


@pytest.mark.parametrize("new_type", ["Integer", "Date", "Boolean", "Float", "Text"])
def test_a_required_field_whose_values_all_convert_stays_required(make_app, new_type):
    app = make_app()
    values = {"Integer": "12", "Date": "2024-01-02", "Boolean": "true", "Float": "1.5"}
    value = values.get(new_type, "anything")
    model_id, ids = _model(app, [{"code": value}])
    planned, applied = _change(app, model_id, code=new_type)
    assert _counts(planned) == _counts(applied) == {"code": (1, 0)}
    got = _every_row_reads(app, model_id, ids)
    assert got[0]["code"] is not None
    client = app.test_client()
    missing = client.post(f"{M}/{model_id}/app-database/entities/event", json={"label": "x"})
    assert missing.status_code == 422, missing.get_json()
