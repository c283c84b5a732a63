"""URL rules make their builders on first use, and build what werkzeug's own rules build."""

from __future__ import annotations

from flask import url_for
from werkzeug.routing import Map, Rule

from app.api import BuildOnFirstUseRule

RULES = [
    ("/api/v1/items/", "items"),
    ("/api/v1/items/<id>", "item"),
    ("/api/v1/models/<model_id>/app-database/entities/<entity>/<int:n>", "row"),
    ("/files/<path:rest>", "file"),
]
BUILDS = [
    ("items", {}),
    ("items", {"skip": 5, "limit": "10"}),
    ("item", {"id": "a b/ü"}),
    ("item", {"id": "x", "unknown": ["1", "2"]}),
    ("row", {"model_id": "m", "entity": "order", "n": 7}),
    ("file", {"rest": "a/b c.txt"}),
]


def _adapter(rule_class):
    return Map([rule_class(path, endpoint=endpoint) for path, endpoint in RULES]).bind("x.test")


def test_urls_are_built_as_werkzeugs_rules_build_them():
    ours, theirs = _adapter(BuildOnFirstUseRule), _adapter(Rule)
    for endpoint, values in BUILDS * 2:  # the second time with the builders made
        for append_unknown in (True, False):
            assert ours.build(endpoint, values, append_unknown=append_unknown) == theirs.build(
                endpoint, values, append_unknown=append_unknown
            )


def _waiting(bound) -> bool:
    return bound.__func__.__qualname__.startswith("BuildOnFirstUseRule.")


def test_a_started_app_has_made_no_builder_until_a_url_is_built(make_client):
    app = make_client(auth_required=False).app
    rules = list(app.url_map.iter_rules())
    assert rules and all(type(rule) is BuildOnFirstUseRule for rule in rules)
    assert all(_waiting(r._build) and _waiting(r._build_unknown) for r in rules)
    with app.test_request_context():
        assert url_for("items.read_item", id="abc", page=2) == "/api/v1/items/abc?page=2"
    built = [r for r in rules if not _waiting(r._build_unknown)]
    assert [r.endpoint for r in built] == ["items.read_item"]
