"""The template's frontend, as it really sends its forms: bodies, password changes, duplicates."""

from __future__ import annotations

import uuid

from tests.api.conftest import (
    API,
    SUPERUSER,
    SUPERUSER_PASSWORD,
    login,
    new_user,
    superuser_headers,
)


def test_the_admin_add_user_form_body_creates_the_user(client):
    su = superuser_headers(client)
    body = {
        "email": "added@example.com",
        "full_name": "Added Person",
        "password": "long enough",
        "confirm_password": "long enough",
        "is_superuser": False,
        "is_active": True,
    }
    created = client.post(f"{API}/users/", headers=su, json=body)
    assert created.status_code == 200, created.get_json()
    user = created.get_json()
    assert user["email"] == "added@example.com" and "confirm_password" not in user
    edited = client.patch(
        f"{API}/users/{user['id']}",
        headers=su,
        json={**body, "full_name": "Edited", "password": "another one", "confirm_password": "x"},
    )
    assert edited.status_code == 200 and edited.get_json()["full_name"] == "Edited"
    assert client.delete(f"{API}/users/{user['id']}", headers=su).status_code == 200


def test_the_change_password_form_body_changes_the_password(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    client.patch(
        f"{API}/users/{user['id']}",
        headers=superuser_headers(client),
        json={"password": "old pw 1"},
    )
    headers = login(client, user["email"], "old pw 1")
    body = {
        "current_password": "old pw 1",
        "new_password": "new pw 2",
        "confirm_password": "new pw 2",
    }
    changed = client.patch(f"{API}/users/me/password", headers=headers, json=body)
    assert changed.status_code == 200, changed.get_json()
    assert login(client, user["email"], "new pw 2")


def test_a_password_change_keeps_the_token_that_made_it_and_revokes_the_others(make_client):
    client = make_client(auth_required=True)
    user, _ = new_user(client)
    client.patch(
        f"{API}/users/{user['id']}",
        headers=superuser_headers(client),
        json={"password": "pw one 1"},
    )
    browser = login(client, user["email"], "pw one 1")
    laptop = login(client, user["email"], "pw one 1")
    there = {"current_password": "pw one 1", "new_password": "pw two 2"}
    back = {"current_password": "pw two 2", "new_password": "pw one 1"}
    # The template's own API test changes the password, and back, with one token.
    assert client.patch(f"{API}/users/me/password", headers=browser, json=there).status_code == 200
    assert client.get(f"{API}/users/me", headers=browser).status_code == 200
    assert client.patch(f"{API}/users/me/password", headers=browser, json=back).status_code == 200
    assert client.get(f"{API}/items/", headers=browser).status_code == 200
    assert client.get(f"{API}/users/me", headers=laptop).status_code == 401
    # Logout still revokes the token used, kept or not.
    assert client.post(f"{API}/login/logout", headers=browser).status_code == 200
    assert client.get(f"{API}/users/me", headers=browser).status_code == 401


def test_an_admin_setting_a_password_revokes_every_token_of_that_user(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    su = superuser_headers(client)
    client.patch(f"{API}/users/{user['id']}", headers=su, json={"password": "reset by admin"})
    assert client.get(f"{API}/users/me", headers=headers).status_code == 401
    assert client.get(f"{API}/users/me", headers=su).status_code == 200


def test_a_duplicate_email_is_400_with_the_templates_message(make_client):
    client = make_client(auth_required=True)
    su = superuser_headers(client)
    body = {"email": "twice@example.com", "password": "long enough"}
    assert client.post(f"{API}/users/", headers=su, json=body).status_code == 200
    for path, headers in (("/users/", su), ("/users/signup", {})):
        dup = client.post(f"{API}{path}", headers=headers, json=body)
        assert dup.status_code == 400, path
        assert dup.get_json() == {
            "detail": "The user with this email already exists in the system."
        }


def test_fields_a_caller_may_not_set_are_ignored_and_never_applied(make_client):
    client = make_client(auth_required=True)
    me, headers = new_user(client)
    other, other_headers = new_user(client)
    forged = {
        "id": str(uuid.uuid4()),
        "is_superuser": True,
        "is_active": False,
        "hashed_password": "x",
        "created_at": "2000-01-01T00:00:00Z",
        "token_generation": 99,
    }
    renamed = client.patch(f"{API}/users/me", headers=headers, json={"full_name": "Me", **forged})
    assert renamed.status_code == 200, renamed.get_json()
    after = client.get(f"{API}/users/me", headers=headers).get_json()
    assert after["full_name"] == "Me" and after["id"] == me["id"]
    assert after["is_superuser"] is False and after["is_active"] is True
    assert after["created_at"] == me["created_at"]

    signup = {"email": "self@example.com", "password": "long enough", **forged}
    created = client.post(f"{API}/users/signup", json=signup)
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["is_superuser"] is False and created.get_json()["id"] != forged["id"]

    item_forged = {
        "id": str(uuid.uuid4()),
        "owner_id": other["id"],
        "created_at": "2000-01-01T00:00:00Z",
    }
    item = client.post(f"{API}/items/", headers=headers, json={"title": "mine", **item_forged})
    assert item.status_code == 200, item.get_json()
    item = item.get_json()
    assert item["owner_id"] == me["id"] and item["id"] != item_forged["id"]
    assert not item["created_at"].startswith("2000")
    put = client.put(
        f"{API}/items/{item['id']}", headers=headers, json={"title": "t2", **item_forged}
    )
    assert put.status_code == 200 and put.get_json()["owner_id"] == me["id"]
    assert put.get_json()["id"] == item["id"]
    # Another user's item stays a 404, so ids cannot be probed.
    assert client.get(f"{API}/items/{item['id']}", headers=other_headers).status_code == 404


def test_the_superuser_login_is_case_insensitive(client):
    assert login(client, SUPERUSER.upper(), SUPERUSER_PASSWORD)


def test_login_takes_the_oauth2_form_url_encoded_with_its_optional_fields(client):
    form = {
        "grant_type": "password",
        "username": SUPERUSER,
        "password": SUPERUSER_PASSWORD,
        "scope": "",
        "client_id": "frontend",
        "client_secret": "",
    }
    response = client.post(
        f"{API}/login/access-token",
        data=form,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "bearer"
    wrong = client.post(f"{API}/login/access-token", data={**form, "grant_type": "implicit"})
    assert wrong.status_code == 422
