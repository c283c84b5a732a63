"""One test per bug the harness found, each failing before its fix."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import API, login, superuser_headers
from tests.harness.world import World, model_body


def _raw(client, method, path, **kwargs):
    return client.client.open(f"{API}{path}", method=method, **kwargs)


def test_a_numeric_password_can_log_in(make_client):
    # flask-openapi3 JSON-decoded form values: "12345678" became 12345678 and login said 422.
    client = make_client(auth_required=True)
    for password in ("123456789", "true", "null", '"quoted"', "[1, 2]", "1e3"):
        email = f"p{abs(hash(password))}@example.com"
        created = client.post(
            f"{API}/users/",
            headers=superuser_headers(client),
            json={"email": email, "password": password.ljust(8, "_")},
        )
        assert created.status_code == 200, created.get_json()
        assert login(client, email, password.ljust(8, "_"))


def test_a_json_string_body_is_not_parsed_twice(make_client):
    # '"{\"title\": \"x\"}"' is a string, not an object; flask-openapi3 parsed it again.
    client = make_client(auth_required=False)
    body = json.dumps(json.dumps({"title": "smuggled"}))
    response = _raw(client, "POST", "/items/", data=body, content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert client.get(f"{API}/items/").get_json()["count"] == 0


def test_duplicate_keys_are_refused(make_client):
    client = make_client(auth_required=False)
    response = _raw(
        client,
        "POST",
        "/items/",
        data=b'{"title": "a", "title": "b"}',
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["loc"] == ["body"]
    assert client.get(f"{API}/items/").get_json()["count"] == 0


@pytest.mark.parametrize(
    "field,value",
    [("is_superuser", 0), ("is_active", 1), ("is_superuser", "true"), ("full_name", 5)],
)
def test_json_bodies_are_strictly_typed(make_client, field, value):
    # is_superuser: 0 was accepted (as false) though the document says boolean.
    client = make_client(auth_required=False)
    response = client.post(
        f"{API}/users/",
        json={"email": "strict@example.com", "password": "long enough", field: value},
    )
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["loc"] == ["body", field]
    assert client.get(f"{API}/users/").get_json()["count"] == 1


def test_the_longest_documented_email_is_accepted(make_client):
    # The document promised 255 characters; email-validator refuses more than 254.
    client = make_client(auth_required=False)
    doc = client.client.get(f"{API}/openapi.json").get_json()
    limit = doc["components"]["schemas"]["UserCreate"]["properties"]["email"]["maxLength"]
    core = limit - 65 - len(".com")  # 64 for the local part, 1 for the "@"
    count = -(-(core + 1) // 64)  # labels of at most 63, joined by dots
    labels = ["b" * 63] * (count - 1) + ["b" * (core - 64 * (count - 1))]
    email = f"{'a' * 64}@{'.'.join(labels)}.com"
    assert len(email) == limit
    ok = client.post(f"{API}/users/", json={"email": email, "password": "long enough"})
    assert ok.status_code == 200, ok.get_json()
    too_long = client.post(f"{API}/users/", json={"email": "c" + email, "password": "long enough"})
    assert too_long.status_code == 422


@pytest.mark.parametrize(
    "path",
    ["/items//", "/items/%2F", "/models//app-database/status", "/models/a%2F%2Fb/app-database"],
)
def test_an_empty_or_slashed_id_is_a_json_404_not_a_redirect(make_client, path):
    # Werkzeug merged the slashes and answered with an HTML 308 to another resource.
    client = make_client(auth_required=False)
    response = _raw(client, "GET", path)
    assert response.status_code in (404, 405), response.status_code
    assert response.is_json and "detail" in response.get_json()


@pytest.mark.parametrize("field", ["email", "is_active", "is_superuser", "password"])
def test_null_for_a_not_null_user_field_changes_nothing(make_client, field):
    # PATCH /users/{id} {"is_active": null} wrote NULL into a NOT NULL column: a 500.
    client = make_client(auth_required=True)
    world = World(client.app)
    user = world.new_user()
    before = world.call("GET", f"/users/{user.id}", world.admin).get_json()
    response = world.call("PATCH", f"/users/{user.id}", world.admin, json={field: None})
    assert response.status_code == 200, response.get_json()
    assert world.call("GET", f"/users/{user.id}", world.admin).get_json() == before
    mine = world.call("PATCH", "/users/me", user, json={"email": None, "full_name": None})
    assert mine.status_code == 200 and mine.get_json()["email"] == user.email


def test_tokens_of_deactivated_and_deleted_users_get_401(make_client):
    # A deactivated user's token still read /utils/status; a deleted user's token got a 404.
    client = make_client(auth_required=True)
    world = World(client.app)
    for action in ("deactivate", "delete"):
        user = world.new_user(superuser=True)
        if action == "deactivate":
            client.patch(
                f"{API}/users/{user.id}", headers=world.admin.headers, json={"is_active": False}
            )
        else:
            client.delete(f"{API}/users/{user.id}", headers=world.admin.headers)
        for method, path in (("GET", "/utils/status"), ("GET", "/users/me"), ("GET", "/users/")):
            response = world.call(method, path, user)
            assert response.status_code == 401, (action, path, response.get_json())
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_model_definition_booleans_are_strict(make_client):
    client = make_client(auth_required=False)
    body = model_body("strict-bools")
    body["definition"]["entities"][0]["fields"][0]["unique"] = 0
    response = client.post(f"{API}/models/", json=body)
    assert response.status_code == 422, response.get_json()


def test_seed_options_are_strictly_typed(make_client):
    client = make_client(auth_required=False)
    assert client.post(f"{API}/models/", json=model_body("seedy")).status_code == 200
    response = client.post(
        f"{API}/models/seedy/app-database/seed",
        json={"max_instances_per_entity": True, "seed": True},
    )
    assert response.status_code == 422, response.get_json()


def test_sync_conflicts_do_not_show_other_users_rows(make_client):
    client = make_client(auth_required=True)
    world = World(client.app)
    victim, attacker = world.new_user(populated=True), world.new_user()
    response = world.call(
        "POST",
        "/sync",
        attacker,
        json={
            "client_id": "attacker",
            "operations": [
                {
                    "id": "op-1",
                    "table": "items",
                    "operation": "UPDATE",
                    "timestamp": "2030-01-01T00:00:00Z",
                    "data": {"id": victim.item_id, "title": "hijacked", "description": None},
                }
            ],
        },
    )
    assert response.status_code < 500
    assert victim.marker not in response.get_data(as_text=True), response.get_json()


def test_a_nul_in_a_model_name_is_a_422(make_client):
    client = make_client(auth_required=False)
    response = client.client.post(f"{API}/models/", json=model_body("nul-name", "a\x00b"))
    assert response.status_code == 422, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "email,valid",
    [
        ("name@example.com", True),
        ("name@host.test", False),
        ("name@box.LOCAL", False),
        ("name@testing.org", True),
    ],
)
def test_the_document_refuses_the_emails_the_service_refuses(make_client, email, valid):
    # format: email alone promised name@host.test, which email-validator refuses (a 422).
    import re

    client = make_client(auth_required=False)
    doc = client.client.get(f"{API}/openapi.json").get_json()
    pattern = doc["components"]["schemas"]["UserCreate"]["properties"]["email"]["pattern"]
    assert bool(re.match(pattern, email)) is valid
    response = client.post(f"{API}/users/", json={"email": email, "password": "long enough"})
    assert (response.status_code == 200) is valid, response.get_json()
