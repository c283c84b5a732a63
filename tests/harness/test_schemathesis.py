"""Schema-driven fuzzing: schemathesis against every operation of the service's own document.

One pytest item per operation, auth mode and backend, each on a fresh database. Positive and
negative cases (examples, coverage and fuzzing phases) with a fixed seed; every built-in check
runs: no server errors, status codes, content types, headers and bodies as documented, schema-
violating requests refused, schema-valid ones accepted. ``make test`` runs a small slice on
SQLite (and one mode on the servers); ``make stress`` (HARNESS_PROFILE=full) runs many more
examples everywhere.

The document is read from ``create_app(serve=False)``: no database, nothing served. Requests
go to a real app (``create_app(settings)``) on the item's database, in process.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app import create_app
from app.db import close_db
from services.db import migrations
from services.db.scratch import scratch_database
from services.db.urls import sqlite_target
from tests.api.conftest import SUPERUSER, SUPERUSER_PASSWORD, settings_for
from tests.conftest import BACKENDS
from tests.harness.common import API, FULL, SEED, document, report, server_target
from tests.harness.conftest import FAILED

MAX_EXAMPLES = 60 if FULL else 3
# Business rules the document cannot express answer 400 ("Incorrect password", "Inactive
# user"); schema-valid input answered 422 is still a failure. 429: repeated failed logins are
# throttled (services/throttle.py).
POSITIVE_OK = ["2xx", 400, 401, 403, 404, 409, 429]

# Checks switched off for one operation, each with why. A bug in code this harness may not
# change is listed here *and* pinned by a regression test (tests/harness/
# test_regressions.py), so its fix makes that test fail until the entry is removed.
NOT_APPLICABLE = {
    # GET/PATCH/DELETE /users/signup are routed to /users/{user_id}, as in the FastAPI
    # template: "signup" is not a UUID, so they answer 422 (not 405) and OPTIONS lists them.
    ("POST", f"{API}/users/signup"): {
        "unsupported_method": "signup is also a /users/{user_id}",
        "allow_header_conformance": "signup is also a /users/{user_id}",
    },
    # A definition has rules JSON Schema cannot state (names unique across fields and
    # relationships, references to entities that exist, the body's id equal to the path's):
    # schema-valid definitions that break them are rightly a located 422.
    ("POST", f"{API}/models/"): {"positive_data_acceptance": "semantic rules of a definition"},
    ("PUT", f"{API}/models/{{model_id}}"): {
        "positive_data_acceptance": "semantic rules of a definition"
    },
}
KNOWN_BUGS: dict[tuple[str, str], dict[str, str]] = {}


def _config() -> schemathesis.Config:
    operations = []
    merged: dict[tuple[str, str], dict[str, str]] = {}
    for table in (NOT_APPLICABLE, KNOWN_BUGS):
        for key, checks in table.items():
            merged[key] = {**merged.get(key, {}), **checks}
    for (method, path), checks in merged.items():
        operations.append(
            {
                "include-path": path,
                "include-method": method,
                "checks": {name: {"enabled": False} for name in checks},
            }
        )
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            # The coverage phase (every boundary and type violation of every parameter) is the
            # costly part: the full run has it, the fast slice samples with the fuzzing phase.
            "phases": {"coverage": {"enabled": FULL}},
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_OK}},
            "operations": operations,
            # Values lifted from the app's source are useful, but they make the run depend on
            # unrelated edits; the seed alone decides the cases.
            "analysis": {"constants": {"enabled": False}},
        }
    )


schema = schemathesis.openapi.from_dict(document(), config=_config())


def _targets() -> list:
    # The fast slice fuzzes on SQLite in both modes; the full run on every backend. (The
    # hostile corpus and the auth matrix run on every backend in both.)
    families = BACKENDS if FULL else ["sqlite"]
    return [
        pytest.param((family, mode), id=f"{family}-{mode}")
        for family in families
        for mode in ("auth-off", "auth-on")
    ]


class Session:
    """The token a case carries while auth is on: logged in for real, renewed when revoked."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()
        self.token: str | None = None
        self.email = SUPERUSER

    def login(self) -> None:
        response = self.client.post(
            f"{API}/login/access-token",
            data={"username": self.email, "password": SUPERUSER_PASSWORD},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        self.token = response.get_json()["access_token"]


@pytest.fixture(params=_targets())
def fuzz_app(request, tmp_path):
    """A migrated database of the item's backend and an app on it, in the item's auth mode."""
    family, mode = request.param
    like = sqlite_target(tmp_path / "unused.db") if family == "sqlite" else server_target(family)
    with scratch_database(like, prefix="test") as target:
        migrations.upgrade(target)
        app = create_app(settings_for(target, tmp_path, auth_required=mode == "auth-on"))
        session = Session(app)
        if mode == "auth-on":
            session.login()
        counter = {"cases": 0, "statuses": {}}
        yield app, session, counter
        close_db(app)
        report(
            "schemathesis",
            request.node.nodeid,
            cases=counter["cases"],
            statuses=counter["statuses"],
            backend=family,
            mode=mode,
            failed=int(request.node.stash.get(FAILED, False)),
        )


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_operation_conforms(case, fuzz_app):
    app, session, counter = fuzz_app
    if session.token is not None and "Authorization" not in (case.headers or {}):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {session.token}"}
    counter["cases"] += 1
    response = case.call_and_validate(app=app)
    counter["statuses"][str(response.status_code)] = (
        counter["statuses"].get(str(response.status_code), 0) + 1
    )
    if session.token is not None and response.status_code == 401:
        session.login()  # a logout in this run revoked the token; later cases need a live one
    if (case.method, case.path) == ("PATCH", f"{API}/users/me") and response.status_code == 200:
        session.email = response.json()["email"]  # the superuser renamed itself


def test_every_documented_operation_is_fuzzed():
    # The parametrized test above covers what the document lists; the document must list
    # every route, or a route would escape the fuzzing.
    from tests.harness.common import api_rules, openapi_path

    documented = {(m.upper(), p) for p, item in document()["paths"].items() for m in item}
    routed = {
        (method, openapi_path(rule))
        for method, rule, endpoint in api_rules()
        if endpoint != "openapi_json"
    }
    assert routed - documented == set()
    assert len(routed) >= 30
