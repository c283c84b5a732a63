"""GET /metrics: the Prometheus text format, parsed by the client library's own parser; its
counters move with requests; superuser-only when auth is on."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import API, new_user, superuser_headers
from tests.api.test_models import SHOP


def _scrape(client, headers) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def _value(samples, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_counters_histograms_and_sizes_move_with_requests(client):
    headers = superuser_headers(client)
    before = _scrape(client, headers)
    for _ in range(3):
        assert client.get(f"{API}/items/", headers=headers).status_code == 200
    assert client.post(f"{API}/items/", headers=headers, json={"title": ""}).status_code == 422
    assert client.post(f"{API}/models/", headers=headers, json=SHOP).status_code == 200
    seeded = client.post(
        f"{API}/models/shop-demo/app-database/seed", headers=headers, json={"seed": 3}
    )
    assert seeded.status_code == 200
    missing = client.get(f"{API}/models/shop-demo/app-database/entities/customer/x1")
    assert missing.status_code in (401, 404, 422)
    after = _scrape(client, headers)

    items = {"route": f"{API}/items/", "method": "GET"}
    assert _value(after, "http_requests_total", **items, status="200") == (
        _value(before, "http_requests_total", **items, status="200") + 3
    )
    assert _value(after, "http_request_duration_seconds_count", **items) == (
        _value(before, "http_request_duration_seconds_count", **items) + 3
    )
    assert _value(after, "http_request_duration_seconds_sum", **items) > 0
    assert _value(after, "http_request_duration_seconds_bucket", **items, le="+Inf") == (
        _value(after, "http_request_duration_seconds_count", **items)
    )
    # Routes are templates, never raw paths: one series per route, not per id.
    rows = f"{API}/models/<model_id>/app-database/entities/<entity_type>/<id>"
    assert any(dict(k).get("route") == rows for k in after["http_requests_total"])
    assert not any("shop-demo" in dict(k).get("route", "") for k in after["http_requests_total"])
    # Nor per made-up method: those share one label value.
    for method in ("BREW", "WHEN"):
        client.client.open(f"{API}/items/", method=method, headers=headers)
    methods = {dict(k)["method"] for k in _scrape(client, headers)["http_requests_total"]}
    assert "OTHER" in methods and not methods & {"BREW", "WHEN"}
    assert (
        _value(after, "failed_operations_total", operation="items.create_item", status="422") == 1
    )
    assert _value(after, "app_database_seed_duration_seconds_count") == 1
    assert _value(after, "app_database_seeded_rows_total") == seeded.get_json()["entities_created"]
    assert _value(after, "app_database_size_bytes", model="shop-demo") > 0
    assert _value(after, "main_database_size_bytes") > 0
    assert _value(after, "app_models") == 1

    assert client.delete(f"{API}/models/shop-demo", headers=headers).status_code == 200
    assert "app_database_size_bytes" not in _scrape(client, headers)  # gone with its model


def test_metrics_are_for_superusers_only_when_auth_is_on(make_client):
    client = make_client(auth_required=True)
    assert client.get("/metrics").status_code == 401
    _, user_headers = new_user(client)
    refused = client.get("/metrics", headers=user_headers)
    assert refused.status_code == 403 and "privileges" in refused.get_json()["detail"]
    assert client.get("/metrics", headers=superuser_headers(client)).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_app_counts_its_own_requests(make_client):
    # Every app has its own registry: two apps in one process do not add up (tests, restarts).
    first, second = make_client(auth_required=False), make_client(auth_required=False)
    for _ in range(2):
        first.get(f"{API}/utils/health-check/")
    route = {"route": f"{API}/utils/health-check/", "method": "GET", "status": "200"}
    assert _value(_scrape(first, {}), "http_requests_total", **route) == 2
    assert _value(_scrape(second, {}), "http_requests_total", **route) == 0
