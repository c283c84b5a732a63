"""Typed contracts: the main document types app-database answers, and each model has its own
document whose row schemas every row the API returns conforms to."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder

from services.appdb import openapi as model_openapi
from services.appdb.definition import Definition, problems
from tests.api.conftest import API, superuser_headers
from tests.api.test_models import SHOP
from tests.appdb.test_seed import definitions
from tests.test_cli import _db_env, run_app

M = f"{API}/models"
DB = f"{M}/shop-demo/app-database"
APP_DATABASE_OPERATIONS = (
    ("get", "/models/{model_id}/app-database/status"),
    ("get", "/models/{model_id}/app-database/entities"),
    ("get", "/models/{model_id}/app-database/entities/{entity_type}"),
    ("post", "/models/{model_id}/app-database/entities/{entity_type}"),
    ("get", "/models/{model_id}/app-database/entities/{entity_type}/{id}"),
    ("patch", "/models/{model_id}/app-database/entities/{entity_type}/{id}"),
    ("post", "/models/{model_id}/app-database/seed"),
    ("post", "/models/{model_id}/app-database/sync"),
)


class ModelChecked:
    """Sends requests through the checked client and also checks them against a model's
    own document."""

    def __init__(self, client, headers, doc: dict) -> None:
        self.client, self.headers = client, headers
        # openapi-core cannot check an oauth2 scheme (it warns); the tokens are the main API's.
        self.spec = OpenAPI.from_dict({k: v for k, v in doc.items() if k != "security"})
        self.checked = 0

    def open(self, method: str, path: str, **kwargs):
        """Send; validate request and response against the model's document."""
        kwargs.setdefault("headers", self.headers)
        response = self.client.open(method, path, **kwargs)
        request = EnvironBuilder(path=path, method=method, **kwargs).get_request()
        self.spec.validate_request(WerkzeugOpenAPIRequest(request))
        self.spec.validate_response(
            WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
        )
        self.checked += 1
        return response


def _resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_app_database_answers_have_real_schemas_in_the_main_document(make_client):
    client = make_client(auth_required=False)
    doc = client.client.get(f"{API}/openapi.json").get_json()
    for method, path in APP_DATABASE_OPERATIONS:
        answer = doc["paths"][API + path][method]["responses"]["200"]
        schema = _resolve(doc, answer["content"]["application/json"]["schema"])
        if schema.get("type") == "array":
            schema = _resolve(doc, schema["items"])
        assert schema.get("properties"), f"{method} {path} answers an untyped object"
    row = doc["components"]["schemas"]["AppRow"]
    assert {"id", "created_at", "updated_at"} <= set(row["required"])


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(doc=definitions())
def test_the_document_of_any_valid_definition_is_valid_openapi(doc):
    definition = Definition.model_validate(doc)
    if problems(definition):
        return
    spec = model_openapi.document(model_id="gen-1", name="Gen", version=3, definition=definition)
    validate(spec)
    ids = [op["operationId"] for item in spec["paths"].values() for op in _operations(item)]
    assert len(ids) == len(set(ids)) == 5 * len(definition.entities)


def _operations(item: dict) -> list[dict]:
    return [op for key, op in item.items() if key != "parameters"]


def test_the_example_models_document_names_operations_and_types_fields(make_client):
    client = make_client(auth_required=False)
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    spec = client.get(f"{M}/shop-demo/openapi.json").get_json()
    validate(spec)
    base = f"{API}/models/shop-demo/app-database/entities"
    assert spec["paths"][f"{base}/customer"]["get"]["operationId"] == "customer-list"
    assert spec["paths"][f"{base}/customer"]["post"]["operationId"] == "customer-create"
    assert spec["paths"][f"{base}/customer/{{id}}"]["patch"]["operationId"] == "customer-update"
    schemas = spec["components"]["schemas"]
    assert {"CustomerBase", "CustomerCreate", "CustomerUpdate", "CustomerPublic"} <= set(schemas)
    customer = schemas["CustomerPublic"]["properties"]
    assert customer["id"]["readOnly"] and customer["created_at"]["format"] == "date-time"
    assert customer["first_name"]["type"] == "string"
    assert customer["age"] == {"anyOf": [_int64(), {"type": "null"}]}
    assert customer["tier"]["anyOf"][0] == {"$ref": "#/components/schemas/CustomerTier"}
    assert schemas["CustomerTier"]["enum"] == ["free", "pro"]
    assert customer["referred_by"]["anyOf"][0]["format"] == "uuid"
    assert schemas["CustomerCreate"]["required"] == ["first_name", "email"]
    assert "required" not in schemas["CustomerUpdate"]
    assert schemas["PurchasePublic"]["properties"]["products"]["items"]["format"] == "uuid"
    params = {p["name"]: p for p in spec["paths"][f"{base}/product"]["get"]["parameters"]}
    assert params["price.gt"]["schema"]["type"] == "number"
    assert "title.contains" in params and "tags" not in params  # an Array cannot be filtered


def _int64() -> dict:
    return {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}


def test_every_row_the_api_returns_conforms_to_the_models_document(client):
    headers = superuser_headers(client)
    assert client.post(f"{M}/", headers=headers, json=SHOP).status_code == 200
    spec = client.get(f"{M}/shop-demo/openapi.json", headers=headers).get_json()
    checked = ModelChecked(client, headers, spec)
    seeded = client.post(f"{DB}/seed", headers=headers, json={"max_instances_per_entity": 4})
    assert seeded.status_code == 200, seeded.get_json()
    for entity in SHOP["definition"]["entities"]:
        page = checked.open("GET", f"{DB}/entities/{entity['name']}?limit=10&sort=-created_at")
        assert page.status_code == 200 and page.get_json()["count"] == 4
        for row in page.get_json()["data"]:
            assert checked.open("GET", f"{DB}/entities/{entity['name']}/{row['id']}").status_code
    new = checked.open("POST", f"{DB}/entities/customer", json={"first_name": "A", "email": "a@x"})
    assert new.status_code == 200, new.get_json()
    changed = checked.open(
        "PATCH", f"{DB}/entities/customer/{new.get_json()['id']}", json={"tier": "pro", "age": 3}
    )
    assert changed.get_json()["tier"] == "pro"
    found = checked.open("GET", f"{DB}/entities/customer?tier=pro&age.gte=3&first_name.contains=a")
    assert found.get_json()["count"] >= 1
    gone = checked.open("DELETE", f"{DB}/entities/customer/{new.get_json()['id']}")
    assert gone.status_code == 200
    assert checked.checked >= 24


def test_the_document_follows_a_change_of_the_model(make_client):
    client = make_client(auth_required=False)
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    before = client.get(f"{M}/shop-demo/openapi.json").get_json()
    changed = copy.deepcopy(SHOP)
    changed["definition"]["entities"][0]["fields"].append({"name": "nickname", "type": "String"})
    applied = client.put(f"{M}/shop-demo", json=changed)
    assert applied.status_code == 200
    after = client.get(f"{M}/shop-demo/openapi.json").get_json()
    assert (before["info"]["version"], after["info"]["version"]) == ("1", "2")
    assert "nickname" not in before["components"]["schemas"]["CustomerPublic"]["properties"]
    assert "nickname" in after["components"]["schemas"]["CustomerPublic"]["properties"]


def test_the_cli_prints_the_same_document_as_the_api(make_client, migrated_target, tmp_path):
    client = make_client(auth_required=False)
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    served = client.get(f"{M}/shop-demo/openapi.json").get_json()
    result = run_app("openapi", "--model", "shop-demo", env=_db_env(migrated_target, tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == served
    missing = run_app("openapi", "--model", "nope", env=_db_env(migrated_target, tmp_path))
    assert missing.returncode != 0 and "not found" in missing.stderr.lower()
