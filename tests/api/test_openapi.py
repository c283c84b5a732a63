"""The OpenAPI document: valid OpenAPI 3, template-compatible paths and operation ids, docs UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from openapi_spec_validator import validate

from tests.api.conftest import API

ROOT = Path(__file__).resolve().parents[2]

# The FastAPI template backend's operations (method, path, operation id) this API must keep.
TEMPLATE_OPERATIONS = {
    ("post", "/login/access-token", "login-login_access_token"),
    ("post", "/login/test-token", "login-test_token"),
    ("get", "/users/", "users-read_users"),
    ("post", "/users/", "users-create_user"),
    ("get", "/users/me", "users-read_user_me"),
    ("patch", "/users/me", "users-update_user_me"),
    ("delete", "/users/me", "users-delete_user_me"),
    ("patch", "/users/me/password", "users-update_password_me"),
    ("post", "/users/signup", "users-register_user"),
    ("get", "/users/{user_id}", "users-read_user_by_id"),
    ("patch", "/users/{user_id}", "users-update_user"),
    ("delete", "/users/{user_id}", "users-delete_user"),
    ("get", "/items/", "items-read_items"),
    ("post", "/items/", "items-create_item"),
    ("get", "/items/{id}", "items-read_item"),
    ("put", "/items/{id}", "items-update_item"),
    ("delete", "/items/{id}", "items-delete_item"),
    ("get", "/utils/health-check/", "utils-health_check"),
}


def _operations(doc: dict) -> set[tuple[str, str, str]]:
    return {
        (method, path.removeprefix(API), op["operationId"])
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


def test_document_is_valid_openapi_3(make_client):
    client = make_client(auth_required=False)
    doc = client.client.get(f"{API}/openapi.json").get_json()
    validate(doc)
    assert doc["openapi"].startswith("3.")


def test_document_keeps_the_template_operations(make_client):
    doc = make_client(auth_required=False).client.get(f"{API}/openapi.json").get_json()
    assert TEMPLATE_OPERATIONS <= _operations(doc)
    login = doc["paths"][f"{API}/login/access-token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in login or "multipart/form-data" in login


def test_documented_schemas_never_expose_the_password_hash(make_client):
    doc = make_client(auth_required=False).client.get(f"{API}/openapi.json").get_json()
    assert "hashed_password" not in json.dumps(doc)


def test_interactive_docs_are_served(make_client):
    client = make_client(auth_required=True)
    page = client.client.get("/docs/swagger")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    asset = client.client.get("/docs/swagger/js/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000  # bundled, not fetched
    asset.close()


def test_openapi_command_prints_the_same_document(make_client):
    served = make_client(auth_required=False).client.get(f"{API}/openapi.json").get_json()
    result = subprocess.run(
        [sys.executable, "-m", "app", "openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == served


def test_document_is_built_on_first_request_not_at_start_up(make_client):
    served = make_client(auth_required=False).client.get(f"{API}/openapi.json").get_json()
    script = (
        "import json\n"
        "from app import create_app\n"
        "app = create_app(serve=False)\n"
        "built = bool(app.paths or app.components_schemas or app.spec_json)\n"
        "print(json.dumps([built, app.api_doc]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    built_at_start, document = json.loads(result.stdout)
    assert not built_at_start
    assert document == served


def test_checked_client_rejects_an_undocumented_response(make_client):
    # The conformance check used by every API test must be able to fail.
    import pytest
    from openapi_core.validation.response.exceptions import InvalidData

    client = make_client(auth_required=False)
    client.app.view_functions["utils.health_check"] = lambda: ({"not": "a boolean"}, 200)
    with pytest.raises(InvalidData):
        client.get(f"{API}/utils/health-check/")
