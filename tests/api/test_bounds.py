"""Bounded answers and bounded definitions for app databases (issue 14, item 8), on every backend.

The attack: a page of heavily linked rows. Settings are lowered (5 links per row, pages of a few
kilobytes) so the attack stays small; what is checked is that a page ends at its byte budget,
each ManyToMany list is capped with its total, and that paging the rest gives every row and every
link exactly once.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from openapi_core import OpenAPI

from app import create_app
from app.db import close_db
from services.appdb import definition as D
from tests.api.conftest import API, CheckedClient, new_user, settings_for, superuser_headers

M = f"{API}/models"
ROWS, LINKS, CAP, PAGE_BYTES = 200, 12, 5, 8_000
NOTES = {
    "id": "linked",
    "name": "Linked",
    "definition": {
        "entities": [
            {"name": "note", "fields": [{"name": "title", "type": "String"}]},
            {"name": "tag", "fields": [{"name": "label", "type": "String"}]},
        ],
        "relationships": [{"type": "ManyToMany", "from": "note", "to": "tag", "name": "tags"}],
    },
}


@pytest.fixture
def bounded(migrated_target, tmp_path):
    """Build apps with lowered bounds (closed afterwards)."""
    apps = []

    def make(*, auth_required: bool = False, **bounds) -> CheckedClient:
        settings = settings_for(migrated_target, tmp_path, auth_required=auth_required)
        app = create_app(replace(settings, **bounds))
        apps.append(app)
        return CheckedClient(app, OpenAPI.from_dict(app.api_doc))

    yield make
    for app in apps:
        close_db(app)


def _linked_notes(client: CheckedClient) -> tuple[str, dict[str, set[str]]]:
    assert client.post(f"{M}/", json=NOTES).status_code == 200
    base = f"{M}/linked/app-database/entities"
    tags = [
        client.post(f"{base}/tag", json={"label": f"t{i}"}).get_json()["id"] for i in range(LINKS)
    ]
    made = {}
    for i in range(ROWS):
        response = client.post(f"{base}/note", json={"title": f"note {i}", "tags": tags})
        assert response.status_code == 200, response.get_json()
        made[response.get_json()["id"]] = set(tags)
    return base, made


def test_a_page_of_heavily_linked_rows_is_bounded_and_paging_gives_every_link_once(bounded):
    client = bounded(app_page_bytes=PAGE_BYTES, app_row_links=CAP)
    base, made = _linked_notes(client)

    first = client.get(f"{base}/note?limit={ROWS}")
    assert first.status_code == 200
    page = first.get_json()
    assert page["count"] == ROWS
    assert page["truncated"] is True
    assert 1 <= len(page["data"]) < ROWS
    assert page["next_offset"] == len(page["data"])
    # It stops as late as the budget allows: the next row would not have fitted.
    after = client.get(f"{base}/note?limit=1&offset={page['next_offset']}").get_json()["data"]
    sizes = [len(json.dumps(r, separators=(",", ":"))) + 1 for r in page["data"] + after]
    assert sum(sizes[:-1]) <= PAGE_BYTES < sum(sizes)
    assert len(json.dumps(page["data"], separators=(",", ":"))) <= PAGE_BYTES
    for row in page["data"]:
        assert len(row["tags"]) == CAP and row["tags"] == sorted(row["tags"])
        assert row["_link_counts"] == {"tags": LINKS}

    # Following next_offset gives every row exactly once.
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"{base}/note?limit={ROWS}&offset={offset}").get_json()
        seen += [r["id"] for r in page["data"]]
        offset = page["next_offset"]
    assert sorted(seen) == sorted(made)

    # Every link of a row, paged, exactly once; its capped list is the first page's ids.
    for row_id in list(made)[:10]:
        row = client.get(f"{base}/note/{row_id}").get_json()
        assert len(row["tags"]) == CAP and row["_link_counts"] == {"tags": LINKS}
        links: list[str] = []
        for offset in range(0, LINKS, CAP):
            answer = client.get(f"{base}/note/{row_id}/links/tags?limit={CAP}&offset={offset}")
            assert answer.status_code == 200
            assert answer.get_json()["count"] == LINKS
            links += answer.get_json()["data"]
        assert len(links) == LINKS and set(links) == made[row_id]
        assert set(row["tags"]) == set(links[:CAP])


def test_a_page_holds_one_row_even_over_its_budget_and_short_lists_are_whole(bounded):
    client = bounded(app_page_bytes=1, app_row_links=CAP)
    assert client.post(f"{M}/", json=NOTES).status_code == 200
    base = f"{M}/linked/app-database/entities"
    tag = client.post(f"{base}/tag", json={"label": "only"}).get_json()["id"]
    for i in range(3):
        client.post(f"{base}/note", json={"title": f"n{i}", "tags": [tag]})
    offsets, offset = [], 0
    while offset is not None:
        page = client.get(f"{base}/note?limit=10&offset={offset}").get_json()
        assert len(page["data"]) == 1
        assert page["data"][0]["tags"] == [tag]
        assert page["data"][0]["_link_counts"] == {"tags": 1}
        offsets.append(offset)
        offset = page["next_offset"]
        assert page["truncated"] is (offset is not None)
    assert offsets == [0, 1, 2]
    # Rows of an entity without ManyToMany lists carry no link counts.
    assert "_link_counts" not in client.get(f"{base}/tag").get_json()["data"][0]


def test_links_of_an_unknown_row_or_relationship_are_404_and_bad_paging_is_422(bounded):
    client = bounded()
    assert client.post(f"{M}/", json=NOTES).status_code == 200
    base = f"{M}/linked/app-database/entities"
    note = client.post(f"{base}/note", json={"title": "n"}).get_json()["id"]
    assert client.get(f"{base}/note/{note}/links/tags").get_json() == {"data": [], "count": 0}
    assert client.get(f"{base}/note/{note}/links/nope").status_code == 404
    assert client.get(f"{base}/tag/{note}/links/tags").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"{base}/note/{missing}/links/tags").status_code == 404
    for query in ("limit=0", "limit=100000", "offset=-1", "limit=x", "other=1"):
        response = client.get(f"{base}/note/{note}/links/tags?{query}")
        assert response.status_code == 422, query
        assert isinstance(response.get_json()["detail"], list)


def test_each_user_owns_at_most_max_models_per_user_superusers_too(bounded):
    client = bounded(auth_required=True, max_models_per_user=2)
    _, alice = new_user(client)
    _, bob = new_user(client)
    su = superuser_headers(client)

    def create(model_id: str, headers: dict):
        return client.post(f"{M}/", json=dict(NOTES, id=model_id), headers=headers)

    assert create("a-1", alice).status_code == 200
    assert create("a-2", alice).status_code == 200
    third = create("a-3", alice)
    assert third.status_code == 409
    assert "MAX_MODELS_PER_USER" in third.get_json()["detail"]
    assert client.get(f"{M}/a-3", headers=su).status_code == 404  # nothing was made
    exported = client.get(f"{M}/a-1/app-database/export", headers=alice)
    imported = client.post(
        f"{M}/import?model_id=a-4", json=json.loads(exported.data), headers=alice
    )
    assert imported.status_code == 409
    assert create("b-1", bob).status_code == 200  # one user's models do not count for another
    assert create("s-1", su).status_code == 200
    assert create("s-2", su).status_code == 200
    assert create("s-3", su).status_code == 409
    assert client.delete(f"{M}/a-1", headers=alice).status_code == 200
    assert create("a-3", alice).status_code == 200


def _over(limit: str) -> dict:
    body = copy.deepcopy(NOTES)
    entities = body["definition"]["entities"]
    relationships = body["definition"]["relationships"]
    if limit == "entities":
        entities += [{"name": f"x{i}", "fields": []} for i in range(D.MAX_ENTITIES)]
    elif limit == "fields":
        entities[0]["fields"] = [
            {"name": f"f{i}", "type": "Integer"} for i in range(D.MAX_FIELDS + 1)
        ]
    elif limit == "relationships":
        relationships += [
            {"type": "OneToMany", "from": "tag", "to": "note", "name": f"r{i}"}
            for i in range(D.MAX_RELATIONSHIPS)
        ]
    else:  # columns over all entities, each entity within MAX_FIELDS
        per = D.MAX_FIELDS
        entities[:] = [
            {"name": f"x{i}", "fields": [{"name": f"f{j}", "type": "Integer"} for j in range(per)]}
            for i in range(D.MAX_COLUMNS // per + 1)
        ]
        relationships.clear()
    return body


@pytest.mark.parametrize("limit", ["entities", "fields", "relationships", "columns"])
def test_a_definition_over_the_limits_is_refused_with_422_and_makes_nothing(bounded, limit):
    client = bounded()
    response = client.post(f"{M}/", json=_over(limit))
    assert response.status_code == 422, response.get_json()
    assert client.get(f"{M}/linked").status_code == 404
