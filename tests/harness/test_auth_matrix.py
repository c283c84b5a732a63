"""The auth matrix, generated from the app's URL map so a new endpoint cannot be forgotten.

* Auth on: every endpoint outside PUBLIC answers 401 to every kind of bad token, and the
  database is byte-identical afterwards.
* A normal user gets 403/404 on another user's objects (any endpoint with an id in its path,
  filled with the victim's ids) and on superuser functions; endpoints without an id act on
  the caller's own data and must neither leak nor change the victim's. The victim's rows are
  byte-identical afterwards and its marker string appears in no answer.
* Fields a client may not set are refused or ignored by every write.
* Auth off: the Host and Origin checks (and the launch token) hold on every endpoint.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid

import jwt
import pytest

from tests.api.conftest import API
from tests.harness.common import Oracle, api_rules, openapi_path, operations, report
from tests.harness.corpus import valid_body
from tests.harness.world import ENTITY, RELATIONSHIP, Account, World

PUBLIC = {"login.login_access_token", "users.register_user", "utils.health_check", "openapi_json"}
SUPERUSER_ONLY = {"users.read_users", "users.create_user"}
# What GET /utils/status shows superusers only (where the data lives, parity findings).
SUPERUSER_DETAILS = ("database", "data_dir", "schema_in_parity", "parity_findings")
# Endpoints without an id in the path that end or change the caller's own session: sent last.
SESSION_ENDING = {"login.logout", "users.delete_user_me", "users.update_password_me"}
# Fields the document does not declare but the service deliberately accepts.
CLIENT_CHOSEN = {
    # Offline clients choose the ids of the rows they create (services/appdb/rows.py).
    ("models-create_row", "id"),
}
# Findings in code this harness may not change, each pinned by a regression test
# in tests/harness/test_regressions.py: (endpoint, text in the finding) -> that test.
KNOWN_BUGS: dict[tuple[str, str], str] = {}
READ_ONLY_FIELDS = (
    "id",
    "owner_id",
    "user_id",
    "created_at",
    "updated_at",
    "is_superuser",
    "hashed_password",
    "token_generation",
    "version",
    "last_seeded_at",
)


def _rules(*, public: bool = False) -> list[tuple[str, str, str]]:
    return [r for r in api_rules() if (r[2] in PUBLIC) == public]


def _fill(rule: str, victim: Account) -> str:
    values = {
        "user_id": victim.id,
        "model_id": victim.model_id,
        "entity_type": ENTITY,
        "relationship": RELATIONSHIP,
    }

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name == "id":
            return victim.row_id if "/entities/" in rule else victim.item_id
        if name not in values:
            raise AssertionError(f"{rule}: teach tests/harness/test_auth_matrix.py the id {name!r}")
        return values[name]

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", one, rule)


def _operation(method: str, rule: str):
    path = openapi_path(rule)
    return next((op for op in operations() if op.method == method and op.path == path), None)


def _request(world: World, who: Account, method: str, rule: str, victim: Account, **extra):
    """Send ``method rule`` with the victim's ids and a valid body, as ``who``."""
    op = _operation(method, rule)
    kwargs: dict = {}
    if op is not None:
        body, form = valid_body(op, world, who, {"model_id": victim.model_id})
        if form is not None:
            kwargs["data"] = form
        elif body is not None:
            kwargs["json"] = body
    kwargs.update(extra)
    return world.client.open(
        _fill(rule, victim), method=method, headers=dict(who.headers), **kwargs
    )


def test_the_matrix_covers_every_route():
    rules = api_rules()
    endpoints = {e for _, _, e in rules}
    assert PUBLIC <= endpoints and SUPERUSER_ONLY <= endpoints
    from app.auth import PUBLIC_ENDPOINTS

    # The app's own list must not grow behind the matrix's back.
    assert {e for e in PUBLIC_ENDPOINTS if e in endpoints} == PUBLIC
    assert len(_rules()) >= 30
    victim = Account(
        id=str(uuid.uuid4()), email="", password="", item_id="i", model_id="m", row_id="r"
    )
    for _, rule, _ in rules:
        assert "<" not in _fill(rule, victim)


# ----------------------------------------------------------------------------- 401 everywhere


def _forged(app, claims: dict, *, key: str | None = None) -> str:
    return jwt.encode(claims, key or app.config["JWT_SECRET_KEY"], algorithm="HS256")


def _bad_tokens(world: World) -> dict[str, str | None]:
    app, admin = world.app, world.admin
    good = admin.headers["Authorization"].split()[1]
    claims = jwt.decode(good, options={"verify_signature": False})
    head, payload, signature = good.split(".")
    tokens: dict[str, str | None] = {
        "missing": None,
        "empty": "",
        "garbage": "not-a-token",
        "three-dots": "a.b.c",
        "bad-signature": _forged(app, claims, key="another key of at least thirty-two bytes!"),
        "tampered": f"{head}.{payload[:-4]}AAAA.{signature}",
        "alg-none": jwt.encode(claims, None, algorithm="none"),
        "expired": _forged(app, {**claims, "exp": int(time.time()) - 60}),
        "unknown-user": _forged(app, {**claims, "sub": str(uuid.uuid4())}),
    }
    revoked = world.new_user()
    assert world.call("POST", "/login/logout", revoked).status_code == 200
    tokens["revoked-by-logout"] = revoked.headers["Authorization"].split()[1]
    inactive = world.new_user(superuser=True)
    assert (
        world.call("PATCH", f"/users/{inactive.id}", admin, json={"is_active": False}).status_code
        == 200
    )
    tokens["user-deactivated"] = inactive.headers["Authorization"].split()[1]
    deleted = world.new_user(superuser=True)
    assert world.call("DELETE", f"/users/{deleted.id}", admin).status_code == 200
    tokens["user-deleted"] = deleted.headers["Authorization"].split()[1]
    changed = world.new_user()
    stale = changed.headers["Authorization"].split()[1]
    # The session that changes the password keeps its token (as the template's frontend
    # expects); every other session of the user is revoked.
    world.relogin(changed)
    new_password = "a new password"
    response = world.call(
        "PATCH",
        "/users/me/password",
        changed,
        json={"current_password": changed.password, "new_password": new_password},
    )
    assert response.status_code == 200
    tokens["other-session-at-password-change"] = stale
    reset = world.new_user()
    stale = reset.headers["Authorization"].split()[1]
    response = world.call("PATCH", f"/users/{reset.id}", admin, json={"password": "reset by admin"})
    assert response.status_code == 200
    tokens["before-password-reset"] = stale
    return tokens


def test_every_protected_endpoint_refuses_every_bad_token(
    make_client, migrated_target, tmp_path, request
):
    world = World(make_client(auth_required=True).app)
    victim = world.new_user(populated=True)
    tokens = _bad_tokens(world)
    oracle = Oracle(migrated_target, tmp_path)
    before = oracle.dump()
    failures, sent = [], 0
    for method, rule, _ in _rules():
        for kind, token in tokens.items():
            who = Account(
                id="",
                email="",
                password="",
                headers={} if token is None else {"Authorization": f"Bearer {token}"},
            )
            response = _request(world, who, method, rule, victim)
            sent += 1
            body = response.get_json(silent=True)
            if response.status_code != 401 or not isinstance(body, dict) or "detail" not in body:
                failures.append(f"{method} {rule} [{kind}]: {response.status_code} {body}")
            elif response.headers.get("WWW-Authenticate") != "Bearer":
                failures.append(f"{method} {rule} [{kind}]: no WWW-Authenticate: Bearer")
    after = oracle.dump()
    oracle.close()
    changed = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
    report(
        "auth-matrix-401", request.node.nodeid, cases=sent, failures=len(failures) + len(changed)
    )
    assert sent >= 30 * len(tokens)
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:30])
    assert not changed, f"refused requests changed {changed}"


def test_public_endpoints_need_no_token(make_client):
    world = World(make_client(auth_required=True).app)
    anonymous = Account(id="", email=world.admin.email, password=world.admin.password)
    for method, rule, _ in _rules(public=True):
        response = _request(world, anonymous, method, rule, anonymous)
        # 400: signing up with an email that is taken (the template's answer).
        assert response.status_code in (200, 400), (method, rule, response.get_json())


def test_failed_logins_are_throttled_for_any_spelling_of_an_account(make_client, request):
    from services.throttle import ACCOUNT_FREE

    world = World(make_client(auth_required=True).app)
    victim = world.new_user()
    spellings = [victim.email, victim.email.upper(), victim.email.title()]
    statuses = []
    for n in range(ACCOUNT_FREE + 1):
        response = world.client.post(
            f"{API}/login/access-token",
            data={"username": spellings[n % 3], "password": f"guess {n}"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{n}"},  # one guesser per address
        )
        statuses.append(response.status_code)
    report("auth-matrix-throttle", request.node.nodeid, cases=len(statuses), failures=0)
    assert statuses == [400] * ACCOUNT_FREE + [429], statuses
    assert int(response.headers["Retry-After"]) >= 1


# ----------------------------------------------------------------------------- other users' objects


def _victim_state(oracle: Oracle, victim: Account) -> dict[str, list]:
    """Every row that mentions the victim's id, and every row of the victim's app database."""
    from services.appdb import store

    mark = victim.id.replace("-", "").lower()
    app_db = {
        store.database_name(model_id=victim.model_id),
        victim.model_id,
        store.server_database_name(
            main_database=str(oracle.target.sa_url.database), model_id=victim.model_id
        ),
    }
    state = {}
    for table, rows in oracle.dump().items():
        if re.split(r"[.:]", table.removeprefix("apps/"))[0] in app_db:
            state[table] = rows
            continue
        mine = [r for r in rows if mark in "".join(r).replace("-", "").lower()]
        if mine:
            state[table] = mine
    return state


def test_a_normal_user_cannot_reach_another_users_objects(
    make_client, migrated_target, tmp_path, request
):
    world = World(make_client(auth_required=True).app)
    victim = world.new_user(populated=True)
    attacker = world.new_user(populated=True)
    oracle = Oracle(migrated_target, tmp_path)
    before = _victim_state(oracle, victim)
    assert any("item" in t for t in before) and any(ENTITY in t for t in before), sorted(before)
    rules = sorted(_rules(), key=lambda r: r[2] in SESSION_ENDING)
    failures, sent = [], 0
    for method, rule, endpoint in rules:
        foreign = "<" in rule
        attempts = [{}]
        if endpoint == "sync.sync":
            attempts = _sync_attacks(victim) + _replay_attack(attacker, victim)
        for extra in attempts:
            response = _request(world, attacker, method, rule, victim, **extra)
            sent += 1
            where = f"{method} {rule} {extra or ''}: {response.status_code}"
            text = response.get_data(as_text=True)
            if victim.marker in text or victim.email in text:
                failures.append(f"{where} leaked the victim's data: {text[:200]}")
            if endpoint == "utils.read_status" and any(
                (response.get_json() or {}).get(key) is not None for key in SUPERUSER_DETAILS
            ):
                failures.append(f"{where} showed a normal user superuser details: {text[:200]}")
            if (foreign or endpoint in SUPERUSER_ONLY) and response.status_code not in (403, 404):
                failures.append(f"{where} (expected 403 or 404) {text[:200]}")
            if response.status_code >= 500:
                failures.append(f"{where} {text[:200]}")
            after = _victim_state(oracle, victim)
            if after != before:
                changed = sorted(
                    t for t in set(before) | set(after) if before.get(t) != after.get(t)
                )
                failures.append(f"{where} changed the victim's rows in {changed}")
                before = after
    oracle.close()
    failures = [
        f
        for f in failures
        if not any(f.startswith(where) and text in f for where, text in KNOWN_BUGS)
    ]
    report("auth-matrix-ownership", request.node.nodeid, cases=sent, failures=len(failures))
    assert sent >= 30
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:30])


def _sync_attacks(victim: Account) -> list[dict]:
    """Sync batches aimed at the victim's item and app row (the endpoint takes ids in the body)."""
    stamp = "2030-01-01T00:00:00Z"
    batches = []
    for table, row_id, data in (
        ("items", victim.item_id, {"title": "hijacked", "description": None}),
        (f"models/{victim.model_id}/{ENTITY}", victim.row_id, {"title": "hijacked", "n": 1}),
    ):
        for kind in ("UPDATE", "DELETE", "INSERT"):
            batches.append(
                {
                    "json": {
                        "client_id": "attacker",
                        "operations": [
                            {
                                "id": f"op-{kind}-{len(batches)}",
                                "table": table,
                                "operation": kind,
                                "data": {"id": row_id, **data},
                                "timestamp": stamp,
                            }
                        ],
                    }
                }
            )
        batches.append(
            {
                "json": {
                    "client_id": "attacker",
                    "scope": table.rsplit("/", 1)[0] if "/" in table else table,
                }
            }
        )
    return batches


def _replay_attack(attacker: Account, victim: Account) -> list[dict]:
    """A stale UPDATE of the attacker's own item, then the same operation id aimed at the
    victim's item: the replay must answer from the stored outcome, showing nothing of it."""
    stale = {
        "id": "op-replay",
        "table": "items",
        "operation": "UPDATE",
        "data": {"id": attacker.item_id, "title": "old", "description": None},
        "timestamp": "2001-01-01T00:00:00Z",
    }
    replay = {**stale, "data": {**stale["data"], "id": victim.item_id}}
    return [
        {"json": {"client_id": "replayer", "operations": [op]}} for op in (stale, replay, replay)
    ]


def test_clients_cannot_set_read_only_fields(make_client, migrated_target, tmp_path, request):
    world = World(make_client(auth_required=True).app)
    victim = world.new_user(populated=True)
    attacker = world.new_user(populated=True)
    oracle = Oracle(migrated_target, tmp_path)
    before = _victim_state(oracle, victim)
    forged = {
        "id": victim.item_id,
        "owner_id": victim.id,
        "user_id": victim.id,
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "is_superuser": True,
        "hashed_password": "x",
        "token_generation": -1,
        "version": 99,
        "last_seeded_at": "2000-01-01T00:00:00Z",
    }
    failures, sent = [], 0
    for op in operations():
        found = op.body_schema()
        if found is None or found[0] != "application/json" or op.operation_id in SESSION_ENDING_OPS:
            continue
        declared = set(found[1].get("properties", {}))
        path = {
            "model_id": attacker.model_id,
            "user_id": attacker.id,
            "entity_type": ENTITY,
            "id": attacker.row_id if "/entities/" in op.path else attacker.item_id,
        }
        url = op.path
        for name, value in path.items():
            url = url.replace("{" + name + "}", value)
        for field in READ_ONLY_FIELDS:
            if field in declared or (op.operation_id, field) in CLIENT_CHOSEN:
                continue  # the document lets clients send it (a model's id, a superuser's flag)
            body, _ = valid_body(op, world, attacker, path)
            if not isinstance(body, dict):
                continue
            response = world.client.open(
                url, method=op.method, headers=attacker.headers, json={**body, field: forged[field]}
            )
            sent += 1
            answer = response.get_json(silent=True)
            where = f"{op.label} {field}: {response.status_code}"
            if response.status_code >= 500:
                failures.append(where)
            elif 200 <= response.status_code < 300 and isinstance(answer, dict):
                shown = str(answer.get(field, "")).replace("+00:00", "Z")
                if field in answer and shown.startswith(str(forged[field]).removesuffix("Z")):
                    failures.append(f"{where} stored the forged {field}: {answer}")
    me = world.call("GET", "/users/me", attacker).get_json()
    if me.get("is_superuser"):
        failures.append("the attacker became a superuser")
    if _victim_state(oracle, victim) != before:
        failures.append("forged fields changed the victim's rows")
    oracle.close()
    report("auth-matrix-read-only", request.node.nodeid, cases=sent, failures=len(failures))
    assert sent >= 10
    assert not failures, "\n".join(failures[:30])


SESSION_ENDING_OPS = {"users-update_password_me"}


# ----------------------------------------------------------------------------- auth off: the guard


GUARD_CASES = {
    "foreign-host": ({"Host": "evil.example"}, "Host not allowed"),
    "rebound-subdomain": ({"Host": "127.0.0.1.evil.example"}, "Host not allowed"),
    "userinfo-trick": ({"Host": "localhost@evil.example"}, "Host not allowed"),
    "other-port": ({"Host": "127.0.0.1:9"}, "Host not allowed"),
    "no-port": ({"Host": "localhost"}, "Host not allowed"),
    "foreign-origin": ({"Origin": "https://evil.example"}, "Origin not allowed"),
    "null-origin": ({"Origin": "null"}, "Origin not allowed"),
    "lookalike-origin": ({"Origin": "http://localhost.evil.example:1430"}, "Origin not allowed"),
    # A glob of http://localhost:* matched these; origins are parsed now (issue 15).
    "port-glob-origin": ({"Origin": "http://localhost:1.evil.com"}, "Origin not allowed"),
    "userinfo-origin": ({"Origin": "http://127.0.0.1:1@evil.com"}, "Origin not allowed"),
    "path-origin": ({"Origin": "http://localhost:1430/x"}, "Origin not allowed"),
}
# Loopback origins the desktop's web views really send: the guard must let every one through.
LOOPBACK_ORIGINS = ("http://localhost:{port}", "http://127.0.0.1:{port}", "http://[::1]:{port}")


@pytest.mark.parametrize("launch_token", [False, True], ids=["no-launch-token", "launch-token"])
def test_host_and_origin_checks_hold_on_every_endpoint(
    make_client, migrated_target, tmp_path, launch_token, request
):
    client = make_client(auth_required=False)
    app = client.app
    port = 1430
    app.config["SERVED_PORT"] = port  # as `serve` sets it once it has a port
    secret = "launch-secret"
    if launch_token:
        settings = app.config["SETTINGS"]
        app.config["SETTINGS"] = dataclasses.replace(settings, launch_token=secret)
    good = {"Host": f"127.0.0.1:{port}", **({"X-Launch-Token": secret} if launch_token else {})}
    world_client = app.test_client()
    victim = Account(
        id=str(uuid.uuid4()),
        email="",
        password="",
        item_id=str(uuid.uuid4()),
        model_id="no-such-model",
        row_id="1",
    )
    oracle = Oracle(migrated_target, tmp_path)
    before = oracle.dump()
    failures, sent = [], 0
    cases = dict(GUARD_CASES)
    if launch_token:
        cases["no-launch-token"] = ({"X-Launch-Token": ""}, "A valid launch token is required")
        cases["wrong-launch-token"] = (
            {"X-Launch-Token": "guess"},
            "A valid launch token is required",
        )
    for method, rule, _ in api_rules():
        url = _fill(rule, victim)
        for kind, (headers, detail) in cases.items():
            if "Origin" in headers and method in ("GET", "HEAD", "OPTIONS"):
                continue  # reads are not refused for their Origin; CORS is checked below
            response = world_client.open(
                url,
                method=method,
                headers={**good, **headers},
                json={} if method in ("POST", "PUT", "PATCH") else None,
            )
            sent += 1
            if response.status_code != 403 or response.get_json(silent=True) != {"detail": detail}:
                failures.append(f"{method} {rule} [{kind}]: {response.status_code}")
        response = world_client.open(
            url, method=method, headers={**good, "Origin": "https://evil.example"}
        )
        sent += 1
        if "Access-Control-Allow-Origin" in response.headers:
            failures.append(f"{method} {rule}: CORS allowed a foreign origin")
        for origin in LOOPBACK_ORIGINS:
            allowed = world_client.open(
                url, method=method, headers={**good, "Origin": origin.format(port=port)}
            )
            sent += 1
            if allowed.status_code == 403 and (allowed.get_json() or {}).get("detail") in (
                "Host not allowed",
                "Origin not allowed",
                "A valid launch token is required",
            ):
                failures.append(f"{method} {rule} {origin}: an allowed request was refused")
    after = oracle.dump()
    oracle.close()
    report("auth-matrix-guard", request.node.nodeid, cases=sent, failures=len(failures))
    assert sent >= 100
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:30])
    changed = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
    # Only the allowed requests (sent with unknown ids) could change anything, and they did not.
    assert not changed, changed
