"""Users: own account, sign-up, superuser management; both auth modes."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import API, SUPERUSER, login, new_user, superuser_headers


def _su(client) -> dict:
    return superuser_headers(client)


def test_read_me_never_shows_the_password_hash(client):
    response = client.get(f"{API}/users/me", headers=_su(client))
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] == SUPERUSER and body["is_superuser"] is True
    assert "hashed_password" not in body and "password" not in body


def test_superuser_creates_lists_reads_updates_and_deletes_users(client):
    su = _su(client)
    created = client.post(
        f"{API}/users/",
        headers=su,
        json={"email": "new@example.com", "password": "long enough", "full_name": "New Person"},
    )
    assert created.status_code == 200
    user = created.get_json()
    assert user["email"] == "new@example.com" and user["is_superuser"] is False

    dup = client.post(
        f"{API}/users/", headers=su, json={"email": "new@example.com", "password": "long enough"}
    )
    assert dup.status_code == 400
    assert dup.get_json()["detail"] == "The user with this email already exists in the system."

    listing = client.get(f"{API}/users/?skip=0&limit=10", headers=su).get_json()
    assert (
        listing["count"] == 2 and listing["data"][0]["email"] == "new@example.com"
    )  # newest first
    assert client.get(f"{API}/users/?limit=1", headers=su).get_json()["data"][0]["id"] == user["id"]

    assert (
        client.get(f"{API}/users/{user['id']}", headers=su).get_json()["email"] == "new@example.com"
    )
    patched = client.patch(f"{API}/users/{user['id']}", headers=su, json={"full_name": "Renamed"})
    assert patched.status_code == 200 and patched.get_json()["full_name"] == "Renamed"

    gone = client.delete(f"{API}/users/{user['id']}", headers=su)
    assert gone.status_code == 200 and gone.get_json() == {"message": "User deleted successfully"}
    assert client.get(f"{API}/users/{user['id']}", headers=su).status_code == 404
    assert client.delete(f"{API}/users/{user['id']}", headers=su).status_code == 404
    missing = client.patch(f"{API}/users/{uuid.uuid4()}", headers=su, json={"full_name": "x"})
    assert missing.status_code == 404


def test_update_user_to_a_taken_email_is_409(client):
    su = _su(client)
    a, _ = new_user(client)
    b, _ = new_user(client)
    response = client.patch(f"{API}/users/{b['id']}", headers=su, json={"email": a["email"]})
    assert response.status_code == 409


def test_superuser_cannot_delete_themselves(client):
    me = client.get(f"{API}/users/me", headers=_su(client)).get_json()
    assert client.delete(f"{API}/users/me", headers=_su(client)).status_code == 403
    assert client.delete(f"{API}/users/{me['id']}", headers=_su(client)).status_code == 403


def test_deleting_a_user_deletes_their_items(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    client.post(f"{API}/items/", headers=headers, json={"title": "doomed"})
    assert client.delete(f"{API}/users/{user['id']}", headers=_su(client)).status_code == 200
    assert client.get(f"{API}/items/", headers=_su(client)).get_json()["count"] == 0


def test_normal_user_manages_only_their_own_account(make_client):
    client = make_client(auth_required=True)
    me, headers = new_user(client)
    other, _ = new_user(client)
    assert client.get(f"{API}/users/{me['id']}", headers=headers).status_code == 200
    for method, path, kw in [
        ("GET", f"/users/{other['id']}", {}),
        ("GET", "/users/", {}),
        ("POST", "/users/", {"json": {"email": "x@example.com", "password": "long enough"}}),
        ("PATCH", f"/users/{other['id']}", {"json": {"full_name": "hijacked"}}),
        ("DELETE", f"/users/{other['id']}", {}),
    ]:
        response = client.open(method, f"{API}{path}", headers=headers, **kw)
        assert response.status_code == 403, (method, path)
        assert response.get_json() == {"detail": "The user doesn't have enough privileges"}
    assert (
        client.get(f"{API}/users/{other['id']}", headers=_su(client)).get_json()["full_name"]
        is None
    )


def test_update_me_and_read_only_fields(make_client):
    client = make_client(auth_required=True)
    me, headers = new_user(client)
    response = client.patch(f"{API}/users/me", headers=headers, json={"full_name": "Me"})
    assert response.status_code == 200 and response.get_json()["full_name"] == "Me"
    for field, value in [
        ("is_superuser", True),
        ("id", str(uuid.uuid4())),
        ("hashed_password", "x"),
        ("is_active", False),
    ]:
        # Ignored, as the template's UserUpdateMe ignores them, and never applied.
        ignored = client.patch(f"{API}/users/me", headers=headers, json={field: value})
        assert ignored.status_code == 200, field
    after = client.get(f"{API}/users/me", headers=headers).get_json()
    assert after["is_superuser"] is False and after["id"] == me["id"]
    assert after["is_active"] is True


def test_change_own_password_errors(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    client.patch(
        f"{API}/users/{user['id']}", headers=_su(client), json={"password": "known-password"}
    )
    headers = login(client, user["email"], "known-password")
    wrong = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": "not-the-password", "new_password": "whatever123"},
    )
    assert wrong.status_code == 400 and wrong.get_json()["detail"] == "Incorrect password"
    same = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": "known-password", "new_password": "known-password"},
    )
    assert same.status_code == 400
    assert same.get_json()["detail"] == "New password cannot be the same as the current one"


def test_delete_me_as_a_normal_user(make_client):
    client = make_client(auth_required=True)
    _, headers = new_user(client)
    response = client.delete(f"{API}/users/me", headers=headers)
    assert response.status_code == 200 and response.get_json() == {
        "message": "User deleted successfully"
    }
    assert (
        client.get(f"{API}/users/me", headers=headers).status_code == 401
    )  # its tokens died with it


def test_signup_only_with_auth_on(make_client):
    off = make_client(auth_required=False)
    body = {"email": "self@example.com", "password": "long enough", "full_name": "Self"}
    refused = off.post(f"{API}/users/signup", json=body)
    assert refused.status_code == 403
    on = make_client(auth_required=True)
    created = on.post(f"{API}/users/signup", json=body)
    assert created.status_code == 200 and created.get_json()["is_superuser"] is False
    assert on.post(f"{API}/users/signup", json=body).status_code == 400
    sneaky = on.post(
        f"{API}/users/signup", json={**body, "email": "s2@example.com", "is_superuser": True}
    )
    assert sneaky.status_code == 200 and sneaky.get_json()["is_superuser"] is False
    assert login(on, "self@example.com", "long enough")


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"email": "not-an-email", "password": "long enough"}, ["body", "email"]),
        ({"email": "ok@example.com", "password": "short"}, ["body", "password"]),
        ({"email": "ok@example.com", "password": "x" * 129}, ["body", "password"]),
        (
            {"email": "ok@example.com", "password": "long enough", "full_name": "x" * 256},
            ["body", "full_name"],
        ),
        ({"password": "long enough"}, ["body", "email"]),
    ],
)
def test_user_validation_errors(client, body, loc):
    response = client.post(f"{API}/users/", headers=_su(client), json=body)
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert detail[0]["loc"] == loc and {"loc", "msg", "type"} == set(detail[0])


def test_user_list_limit_is_capped(client):
    response = client.get(f"{API}/users/?limit=1001", headers=_su(client))
    assert response.status_code == 422 and response.get_json()["detail"][0]["loc"] == [
        "query",
        "limit",
    ]


def test_own_account_endpoints_in_both_modes(client):
    from tests.api.conftest import SUPERUSER_PASSWORD

    su = _su(client)
    renamed = client.patch(f"{API}/users/me", headers=su, json={"full_name": "Local Admin"})
    assert renamed.status_code == 200 and renamed.get_json()["full_name"] == "Local Admin"
    changed = client.patch(
        f"{API}/users/me/password",
        headers=su,
        json={"current_password": SUPERUSER_PASSWORD, "new_password": "a brand new password"},
    )
    assert changed.status_code == 200
    assert login(client, SUPERUSER, "a brand new password")
    assert client.post(
        f"{API}/login/logout", headers=login(client, SUPERUSER, "a brand new password")
    ).get_json() == {"message": "Logged out"}
    assert client.get(f"{API}/utils/health-check/").get_json() is True
