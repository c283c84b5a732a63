"""Login throttling: 429 with Retry-After after repeated failures, growing, reset by a success,
and kept in the database so every process sharing it sees the same locks."""

from __future__ import annotations

from datetime import timedelta

from services.db.dal import open_dal
from services.throttle import ACCOUNT_FREE, CLIENT_FREE, LOCAL_MAX_LOCK
from services.timeutil import utcnow
from tests.api.conftest import API, SUPERUSER, SUPERUSER_PASSWORD, new_user, superuser_headers

LOGIN = f"{API}/login/access-token"


def _try(client, email: str, password: str, addr: str = "203.0.113.7"):
    return client.post(
        LOGIN,
        data={"username": email, "password": password},
        environ_base={"REMOTE_ADDR": addr},
    )


def _unlock(target) -> None:
    # The lock's time has passed (instead of sleeping through it): the failures stay counted.
    db = open_dal(target)
    try:
        db(db.login_attempt).update(blocked_until=utcnow() - timedelta(seconds=1))
        db.commit()
    finally:
        db.close()


def _user_with_password(client, password: str) -> str:
    user, _ = new_user(client)
    su = superuser_headers(client)
    client.patch(f"{API}/users/{user['id']}", headers=su, json={"password": password})
    return user["email"]


def test_failures_for_one_account_get_429_growing_and_a_success_resets(
    make_client, migrated_target
):
    client = make_client(auth_required=True)
    email = _user_with_password(client, "the right one")
    for _ in range(ACCOUNT_FREE):
        assert _try(client, email, "wrong guess").status_code == 400
    locked = _try(client, email, "the right one")  # not even evaluated while locked
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    assert locked.get_json() == {"detail": "Too many failed login attempts; try again later"}
    _unlock(migrated_target)
    assert _try(client, email, "wrong again").status_code == 400
    assert _try(client, email, "wrong again").headers["Retry-After"] == "2"
    _unlock(migrated_target)
    assert _try(client, email.upper(), "wrong again").status_code == 400  # any case counts
    assert _try(client, email, "x").headers["Retry-After"] == "4"
    _unlock(migrated_target)
    assert _try(client, email, "the right one").status_code == 200
    for _ in range(ACCOUNT_FREE - 1):
        assert _try(client, email, "wrong guess").status_code == 400
    assert _try(client, email, "the right one").status_code == 200


def test_failures_from_one_client_over_many_accounts_get_429(make_client):
    client = make_client(auth_required=True)
    for n in range(CLIENT_FREE):
        email = f"nobody{n % 5}@example.com"  # under each account's own limit
        assert _try(client, email, "guess", addr="198.51.100.9").status_code == 400
    refused = _try(client, SUPERUSER, SUPERUSER_PASSWORD, addr="198.51.100.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Another client is not locked out by this one.
    assert _try(client, SUPERUSER, SUPERUSER_PASSWORD, addr="192.0.2.1").status_code == 200


def test_the_local_superuser_is_locked_for_at_most_half_a_minute(make_client, migrated_target):
    client = make_client(auth_required=True)
    for _ in range(ACCOUNT_FREE + 12):
        _try(client, SUPERUSER, "wrong")
        _unlock(migrated_target)
    _try(client, SUPERUSER, "wrong")
    refused = _try(client, SUPERUSER, SUPERUSER_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == LOCAL_MAX_LOCK.total_seconds()


def test_a_lock_set_by_one_process_holds_in_another(make_client):
    first, second = make_client(auth_required=True), make_client(auth_required=True)
    email = _user_with_password(first, "the right one")
    for _ in range(ACCOUNT_FREE):
        assert _try(first, email, "wrong").status_code == 400
    assert _try(second, email, "the right one").status_code == 429
