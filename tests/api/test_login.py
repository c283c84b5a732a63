"""Login, tokens and revocation, in both auth modes."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest

from tests.api.conftest import API, SUPERUSER, SUPERUSER_PASSWORD, login, new_user


def test_login_returns_a_bearer_token(client):
    response = client.post(
        f"{API}/login/access-token", data={"username": SUPERUSER, "password": SUPERUSER_PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["access_token"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"exp", "jti", "gen", "sub"} <= set(claims)


@pytest.mark.parametrize(
    "username,password",
    [
        (SUPERUSER, "wrong password"),
        ("nobody@example.com", SUPERUSER_PASSWORD),
    ],
)
def test_bad_credentials_get_the_same_400(client, username, password):
    response = client.post(
        f"{API}/login/access-token", data={"username": username, "password": password}
    )
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Incorrect email or password"}


def test_login_verifies_a_password_even_for_an_unknown_email(client, monkeypatch):
    # Timing equality, shown structurally: the expensive verify runs on both paths.
    from argon2 import PasswordHasher

    from services import security

    calls = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(hash)
            return super().verify(hash, password)

    counting = CountingHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    monkeypatch.setattr(security, "hasher", lambda: counting)
    client.post(
        f"{API}/login/access-token", data={"username": "ghost@example.com", "password": "x" * 9}
    )
    client.post(f"{API}/login/access-token", data={"username": SUPERUSER, "password": "x" * 9})
    assert len(calls) == 2


def test_inactive_user_cannot_log_in(client):
    from tests.api.conftest import superuser_headers

    user, _ = new_user(client)
    client.patch(
        f"{API}/users/{user['id']}", headers=superuser_headers(client), json={"is_active": False}
    )
    # new_user's password is not returned; set a known one.
    client.patch(
        f"{API}/users/{user['id']}",
        headers=superuser_headers(client),
        json={"password": "a-known-password"},
    )
    response = client.post(
        f"{API}/login/access-token",
        data={"username": user["email"], "password": "a-known-password"},
    )
    assert response.status_code == 400 and response.get_json()["detail"] == "Inactive user"


def test_test_token_returns_the_token_user(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    response = client.post(f"{API}/login/test-token", headers=headers)
    assert response.status_code == 200 and response.get_json()["email"] == user["email"]
    assert "hashed_password" not in response.get_json()


def test_test_token_acts_as_the_local_superuser_when_auth_is_off(make_client):
    client = make_client(auth_required=False)
    response = client.post(f"{API}/login/test-token")
    assert response.status_code == 200
    assert response.get_json()["email"] == SUPERUSER and response.get_json()["is_superuser"]


def _token(app, **claims) -> str:
    secret = app.config["JWT_SECRET_KEY"]
    payload = {
        "sub": "00000000-0000-0000-0000-000000000000",
        "jti": "j",
        "gen": 0,
        "type": "access",
        "fresh": False,
        "iat": int(time.time()),
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def _bad_tokens(client) -> dict[str, str | None]:
    user_token = login(client, SUPERUSER, SUPERUSER_PASSWORD)["Authorization"].split()[1]
    claims = jwt.decode(user_token, options={"verify_signature": False})
    header, payload, signature = user_token.split(".")
    none_alg = jwt.encode(claims, None, algorithm="none")
    return {
        "missing": None,
        "garbage": "not.a.token",
        "tampered": f"{header}.{payload[:-2]}AA.{signature}",
        "wrong-key": jwt.encode(
            claims, "another secret of at least thirty-two bytes", algorithm="HS256"
        ),
        "alg-none": none_alg,
        "expired": _token(client.app, **{**claims, "exp": int(time.time()) - 10}),
        "no-exp": _token(client.app, **{**claims, "exp": None}),
    }


@pytest.mark.parametrize(
    "kind", ["missing", "garbage", "tampered", "wrong-key", "alg-none", "expired", "no-exp"]
)
def test_bad_tokens_get_401(make_client, kind):
    client = make_client(auth_required=True)
    token = _bad_tokens(client)[kind]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 401, response.get_json()
    assert isinstance(response.get_json()["detail"], str)


def test_logout_revokes_the_token_and_survives_a_restart(make_client):
    client = make_client(auth_required=True)
    _, headers = new_user(client)
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    assert client.post(f"{API}/login/logout", headers=headers).status_code == 200
    assert client.get(f"{API}/users/me", headers=headers).status_code == 401
    # A new app on the same data dir and database is a restart: the revocation is stored.
    restarted = make_client(auth_required=True)
    assert restarted.get(f"{API}/users/me", headers=headers).status_code == 401


def test_password_change_revokes_old_tokens_across_a_restart(make_client):
    client = make_client(auth_required=True)
    user, headers = new_user(client)
    second = dict(headers)
    from tests.api.conftest import superuser_headers

    client.patch(
        f"{API}/users/{user['id']}",
        headers=superuser_headers(client),
        json={"password": "first-password"},
    )
    # The superuser's reset already revoked the old tokens; log in again twice.
    assert client.get(f"{API}/users/me", headers=second).status_code == 401
    headers = login(client, user["email"], "first-password")
    other = login(client, user["email"], "first-password")
    response = client.patch(
        f"{API}/users/me/password",
        headers=headers,
        json={"current_password": "first-password", "new_password": "second-password"},
    )
    assert response.status_code == 200
    assert response.get_json() == {"message": "Password updated successfully"}
    # The token that made the change is kept (as the template's frontend expects); others die.
    assert client.get(f"{API}/users/me", headers=other).status_code == 401
    restarted = make_client(auth_required=True)
    assert restarted.get(f"{API}/users/me", headers=other).status_code == 401
    assert restarted.get(f"{API}/users/me", headers=headers).status_code == 200
    fresh = login(restarted, user["email"], "second-password")
    assert restarted.get(f"{API}/users/me", headers=fresh).status_code == 200


def test_tokens_survive_a_restart(make_client, tmp_path):
    client = make_client(auth_required=True)
    headers = login(client, SUPERUSER, SUPERUSER_PASSWORD)
    restarted = make_client(auth_required=True)
    assert restarted.get(f"{API}/users/me", headers=headers).status_code == 200
    secret_file = tmp_path / "secret_key"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_token_lifetime_is_bounded(make_client):
    client = make_client(auth_required=True)
    token = login(client, SUPERUSER, SUPERUSER_PASSWORD)["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert 0 < claims["exp"] - claims["iat"] <= timedelta(days=8).total_seconds()
