"""API fixtures: an app per test on every backend, in both auth modes, every response checked
against the service's own OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import EnvironBuilder, TestResponse

from app import create_app
from app.db import close_db
from services.config import load_settings

SUPERUSER = "admin@example.com"
SUPERUSER_PASSWORD = "correct horse battery staple"
API = "/api/v1"


class CheckedClient:
    """A Flask test client whose every response must conform to the OpenAPI document."""

    def __init__(self, app, spec: OpenAPI) -> None:
        self.app = app
        self.client = app.test_client()
        self.spec = spec
        self.checked = 0

    def open(self, method: str, path: str, **kwargs) -> TestResponse:
        """Send a request and validate the response against the document."""
        response = self.client.open(path, method=method, **kwargs)
        if path.startswith(API) and not path.endswith("openapi.json"):
            # The sent request's body stream is spent; rebuild an identical request to match.
            request = EnvironBuilder(path=path, method=method, **kwargs).get_request()
            self.spec.validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
            self.checked += 1
        return response

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def post(self, path, **kw):
        return self.open("POST", path, **kw)

    def put(self, path, **kw):
        return self.open("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.open("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)


def settings_for(target, data_dir, *, auth_required: bool):
    """Settings pointing at ``target`` with a known superuser password."""
    env = {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": target.sa_url.render_as_string(hide_password=False),
        "AUTH_REQUIRED": "true" if auth_required else "false",
        "FIRST_SUPERUSER": SUPERUSER,
        "FIRST_SUPERUSER_PASSWORD": SUPERUSER_PASSWORD,
    }
    return load_settings(environ=env)


@pytest.fixture(params=["auth-off", "auth-on"])
def auth_required(request) -> bool:
    """Both auth modes."""
    return request.param == "auth-on"


@pytest.fixture
def make_client(migrated_target, tmp_path) -> Callable[..., CheckedClient]:
    """Build (and afterwards close) apps on the test's database."""
    apps = []

    def _make(*, auth_required: bool) -> CheckedClient:
        app = create_app(settings_for(migrated_target, tmp_path, auth_required=auth_required))
        apps.append(app)
        spec = OpenAPI.from_dict(app.api_doc)
        return CheckedClient(app, spec)

    yield _make
    for app in apps:
        close_db(app)


@pytest.fixture
def client(make_client, auth_required) -> CheckedClient:
    """A checked client in the parametrized auth mode."""
    return make_client(auth_required=auth_required)


def login(client: CheckedClient, email: str, password: str) -> dict:
    """Authorization headers for ``email``."""
    response = client.post(
        f"{API}/login/access-token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def superuser_headers(client: CheckedClient) -> dict:
    """Headers acting as the superuser (none needed while auth is off)."""
    return login(client, SUPERUSER, SUPERUSER_PASSWORD)


def new_user(client: CheckedClient, *, superuser: bool = False) -> tuple[dict, dict]:
    """Create a user through the API; return it and headers to act as it (auth on)."""
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    response = client.post(
        f"{API}/users/",
        headers=superuser_headers(client),
        json={"email": email, "password": password, "is_superuser": superuser},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json(), login(client, email, password)
