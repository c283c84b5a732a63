"""Bad input gets a 4xx JSON error in the one shape and changes nothing."""

from __future__ import annotations

import json
import re

import pytest

from tests.api.conftest import API, superuser_headers


def _state(client) -> dict:
    dal = client.app.extensions["dal"]
    counts = {t: dal(dal[t]).count() for t in dal.tables}
    dal.rollback()
    return counts


def _is_error_shape(body) -> bool:
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return False
    detail = body["detail"]
    return isinstance(detail, str) or (
        isinstance(detail, list) and all({"loc", "msg", "type"} == set(d) for d in detail)
    )


BAD_BODIES = {
    "malformed": (b'{"title": "x",', "application/json", 422),
    "not-json-type": (b"title=x", "text/plain", 415),
    "nested-30000": (b"[" * 30000 + b"]" * 30000, "application/json", 422),
    "nan": (b'{"title": NaN}', "application/json", 422),
    "top-level-list": (b'["title"]', "application/json", 422),
    "nul-byte": (json.dumps({"title": "a\u0000b"}).encode(), "application/json", 422),
    "lone-surrogate": (b'{"title": "a\\ud800b"}', "application/json", 422),
    "oversized": (
        json.dumps({"title": "x", "description": "y" * (2 * 1024 * 1024)}).encode(),
        "application/json",
        413,
    ),
    "invalid-utf8": (b'{"title": "\xff\xfe"}', "application/json", 422),
    "wrong-type": (b'{"title": 12}', "application/json", 422),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_4xx_json_and_change_nothing(client, case):
    data, content_type, status = BAD_BODIES[case]
    headers = superuser_headers(client)
    before = _state(client)
    response = client.post(f"{API}/items/", data=data, content_type=content_type, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert _is_error_shape(response.get_json())
    assert _state(client) == before


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/items/{2**90}",
        f"{API}/items/-1",
        f"{API}/items/' OR '1'='1",
        f"{API}/users/%00",
        f"{API}/items/?limit={2**90}",
        f"{API}/items/?skip=-1",
        f"{API}/items/?limit=abc",
        f"{API}/items/?limit=1&unknown=1",
    ],
)
def test_bad_paths_and_queries(client, path):
    response = client.get(path, headers=superuser_headers(client))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert _is_error_shape(response.get_json())


def test_quotes_and_sql_metacharacters_are_data(client):
    headers = superuser_headers(client)
    title = "Robert'); DROP TABLE item;-- % _ \\ \" `"
    created = client.post(f"{API}/items/", headers=headers, json={"title": title}).get_json()
    assert client.get(f"{API}/items/{created['id']}", headers=headers).get_json()["title"] == title
    assert _state(client)["item"] == 1


def _concrete(rule: str) -> str:
    return re.sub(r"<[^>]+>", "00000000-0000-0000-0000-000000000000", rule)


def test_every_route_answers_errors_in_the_one_shape(client):
    """Walk the URL map: 404 for unknown objects, 405 for wrong methods, always JSON."""
    headers = superuser_headers(client)
    from werkzeug.exceptions import MethodNotAllowed

    adapter = client.app.url_map.bind("localhost")
    rules = [r for r in client.app.url_map.iter_rules() if r.rule.startswith(API)]
    assert len(rules) >= 15
    tried = 0
    for rule in rules:
        path = _concrete(rule.rule)
        for method in ("DELETE", "PUT", "PATCH", "POST", "GET"):
            try:
                adapter.match(path, method=method)
            except MethodNotAllowed:
                break
        else:
            continue  # every method is routed somewhere for this path
        response = client.client.open(path, method=method, headers=headers)
        assert response.status_code == 405, (method, path)
        assert _is_error_shape(response.get_json()) and "Allow" in response.headers
        tried += 1
    assert tried >= 8
    missing = client.client.get(f"{API}/no-such-thing", headers=headers)  # not in the document
    assert missing.status_code == 404 and _is_error_shape(missing.get_json())
