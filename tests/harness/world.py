"""A populated service to attack: users, their items, models and app rows, made through the API.

Every object carries a marker string, so a test can tell whether any of it leaked into a
response meant for someone else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.test import TestResponse

from tests.api.conftest import SUPERUSER, SUPERUSER_PASSWORD
from tests.harness.common import API, unique

ENTITY = "thing"
RELATIONSHIP = "related"


def model_body(model_id: str, name: str = "Harness model") -> dict:
    """A small valid model definition: one entity with a text and a number field, and a
    ManyToMany of the entity with itself (so its links route has a relationship to page)."""
    return {
        "id": model_id,
        "name": name,
        "definition": {
            "entities": [
                {
                    "name": ENTITY,
                    "display_name": "Thing",
                    "fields": [
                        {"name": "title", "type": "String", "required": True},
                        {"name": "n", "type": "Integer"},
                    ],
                }
            ],
            "relationships": [
                {"type": "ManyToMany", "from": ENTITY, "to": ENTITY, "name": RELATIONSHIP}
            ],
        },
    }


@dataclass
class Account:
    """A user of the world and how to act as them."""

    id: str
    email: str
    password: str
    headers: dict = field(default_factory=dict)
    marker: str = ""
    item_id: str = ""
    model_id: str = ""
    row_id: str = ""


class World:
    """The app, a client, and helpers to create objects and act as someone."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()
        self.auth = bool(app.extensions["auth_required"])
        self.admin = Account(id="", email=SUPERUSER, password=SUPERUSER_PASSWORD)
        self.relogin(self.admin)
        self.admin.id = self.call("GET", "/users/me", self.admin).get_json()["id"]

    def call(
        self, method: str, path: str, who: Account | None = None, **kwargs: Any
    ) -> TestResponse:
        """A request to ``/api/v1{path}`` as ``who`` (anonymous when None)."""
        headers = {**(who.headers if who else {}), **kwargs.pop("headers", {})}
        return self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)

    def relogin(self, who: Account) -> None:
        """A fresh token for ``who`` (nothing to do while auth is off)."""
        if not self.auth:
            who.headers = {}
            return
        response = self.client.post(
            f"{API}/login/access-token", data={"username": who.email, "password": who.password}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        who.headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def new_user(self, *, superuser: bool = False, populated: bool = False) -> Account:
        """A user made by the superuser; with ``populated``, also an item, a model and a row."""
        email, password = f"{unique('u')}@example.com", f"pw-{uuid.uuid4().hex}"
        response = self.call(
            "POST",
            "/users/",
            self.admin,
            json={
                "email": email,
                "password": password,
                "is_superuser": superuser,
                "full_name": "Harness user",
            },
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        who = Account(
            id=response.get_json()["id"], email=email, password=password, marker=unique("marker-")
        )
        self.relogin(who)
        if populated:
            actor = who if self.auth else self.admin
            who.item_id = self.new_item(actor, who.marker)
            who.model_id, who.row_id = self.new_model(actor, who.marker)
        return who

    def new_item(self, who: Account, title: str = "harness item") -> str:
        response = self.call("POST", "/items/", who, json={"title": title, "description": title})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["id"]

    def new_model(self, who: Account, marker: str = "harness row") -> tuple[str, str]:
        """A model with its database and one row; returns (model id, row id)."""
        model_id = unique("m-")
        response = self.call("POST", "/models/", who, json=model_body(model_id, f"model {marker}"))
        assert response.status_code == 200, response.get_data(as_text=True)
        return model_id, self.new_row(who, model_id, marker)

    def new_row(self, who: Account, model_id: str, title: str = "harness row") -> str:
        response = self.call(
            "POST",
            f"/models/{model_id}/app-database/entities/{ENTITY}",
            who,
            json={"title": title, "n": 7},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(response.get_json()["id"])
