"""Auth edges a hostile user finds: status details, odd origins, case-variant emails."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, SUPERUSER, login, new_user, superuser_headers

PRIVATE = {"database", "data_dir", "schema_in_parity", "parity_findings"}


def test_status_shows_where_data_lives_only_to_superusers(make_client):
    client = make_client(auth_required=True)
    _, user = new_user(client)
    theirs = client.get(f"{API}/utils/status", headers=user).get_json()
    assert theirs["version"] and theirs["schema_revision"] and theirs["healthy"] is True
    assert all(theirs.get(key) is None for key in PRIVATE), theirs
    mine = client.get(f"{API}/utils/status", headers=superuser_headers(client)).get_json()
    assert mine["data_dir"] and mine["database"] and mine["schema_in_parity"] is True
    assert mine["parity_findings"] == []


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:1.evil.com",
        "http://127.0.0.1:1@evil.com",
        "http://localhost:80/path",
        "http://localhost.evil.com:80",
        "http://evil.com#http://localhost:1",
        "http://localhost:99999",
        "https://localhost:5173",
        "http://localhost:*",
        "null",
    ],
)
def test_odd_origins_are_refused(make_client, origin):
    client = make_client(auth_required=False)
    response = client.post(f"{API}/items/", json={"title": "x"}, headers={"Origin": origin})
    assert response.status_code == 403 and response.get_json() == {"detail": "Origin not allowed"}
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "http://127.0.0.1:1430", "http://[::1]:5173", "tauri://localhost"],
)
def test_loopback_origins_are_allowed(make_client, origin):
    client = make_client(auth_required=False)
    response = client.post(f"{API}/items/", json={"title": "x"}, headers={"Origin": origin})
    assert response.status_code == 200, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_a_case_variant_email_is_the_same_account(make_client):
    client = make_client(auth_required=True)
    body = {"email": "Someone@Example.com", "password": "long enough"}
    created = client.post(f"{API}/users/signup", json=body)
    assert (
        created.status_code == 200 and created.get_json()["email"] == "Someone@example.com"
    )  # the domain is normalised
    again = client.post(f"{API}/users/signup", json={**body, "email": "SOMEONE@EXAMPLE.COM"})
    assert again.status_code == 400
    admin = client.post(
        f"{API}/users/signup", json={"email": SUPERUSER.upper(), "password": "long enough"}
    )
    assert admin.status_code == 400
    assert login(client, "someone@example.com", "long enough")
    _, other = new_user(client)
    taken = client.patch(f"{API}/users/me", headers=other, json={"email": "someone@EXAMPLE.com"})
    assert taken.status_code == 409


def test_the_database_refuses_a_case_variant_email_written_past_the_service(dal):
    from services.security import hash_password

    dal.user.insert(email="twin@example.com", hashed_password=hash_password("x" * 8))
    dal.commit()
    with pytest.raises(Exception) as caught:
        dal.user.insert(email="TWIN@example.com", hashed_password=hash_password("x" * 8))
        dal.commit()
    dal.rollback()
    from services.db.statements import is_integrity_error

    assert is_integrity_error(caught.value)
