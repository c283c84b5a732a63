"""What a seed generates for a field, on every backend: values that fit their names and types,
and locales."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from services.errors import Problems
from tests.appdb.modeldb import all_rows, check_integrity, problems_of


def test_seed_values_fit_their_names_and_types(mdb):
    mdb.seed(max_instances_per_entity=10, seed=5)
    customers = all_rows(mdb, "customer")
    for c in customers:
        assert re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", c["email"]), c["email"]
        assert c["age"] is None or 18 <= c["age"] <= 80
        assert c["tier"] in ("free", "pro", "team")
        assert isinstance(c["vip"], bool)
        date.fromisoformat(c["joined_on"])
        assert c["first_name"] and c["first_name"][0].isupper()
    for p in all_rows(mdb, "product"):
        assert p["price"] >= 1 and p["price"] <= 1000 and round(p["price"], 2) == p["price"]
        assert isinstance(p["tags"], list) and isinstance(p["specs"], dict)
        assert p["title"]
    for o in all_rows(mdb, "purchase"):
        assert o["quantity"] >= 1 and o["quantity"] <= 100
        datetime.fromisoformat(o["placed_at"])
    stamps = [c["created_at"] for c in customers]
    assert all(c["created_at"] == c["updated_at"] for c in customers)
    assert len(set(stamps)) == len(stamps)


def test_seed_locale(mdb):
    mdb.seed(max_instances_per_entity=3, seed=8, locale="de_DE")
    check_integrity(mdb, mdb.definition)
    with pytest.raises(Problems) as info:
        mdb.seed(max_instances_per_entity=3, locale="xx_XX")
    assert problems_of(info) == [(("body", "locale"), "unknown_locale")]
