"""Listing an app database's rows on every backend: sort, filters, paging, refused parameters,
and metacharacters that stay data."""

from __future__ import annotations

import pytest

from services.errors import Problems
from tests.appdb.modeldb import problems_of

# --------------------------------------------------------------------------- listing


@pytest.fixture
def people(mdb):
    specs = [
        ("amy", 30, 1.5, True, "free"),
        ("bea", 25, 2.5, False, "pro"),
        ("cal", None, 3.5, True, "team"),
        ("dan", 41, None, False, "pro"),
        ("eve", 25, 0.5, None, None),
        ("fay", 60, 9.0, True, "free"),
        ("gus", 18, 4.0, False, "team"),
    ]
    made = {}
    for name, age, score, vip, tier in specs:
        made[name] = mdb.create(
            "customer",
            first_name=name,
            email=f"{name}@example.com",
            age=age,
            score=score,
            vip=vip,
            tier=tier,
        )
    return made


def names(rows):
    return [r["first_name"] for r in rows]


def test_sort_filter_and_paginate(mdb, people):
    rows, total = mdb.list("customer", sort="-age,first_name")
    assert total == 7
    assert names(rows) == ["fay", "dan", "amy", "bea", "eve", "gus", "cal"]  # NULL last desc
    assert names(mdb.list("customer", sort="age,-first_name")[0])[:3] == ["cal", "gus", "eve"]
    assert names(mdb.list("customer", sort=["first_name"], limit=2, offset=2)[0]) == ["cal", "dan"]
    assert mdb.list("customer", limit=2, offset=6)[1] == 7
    assert names(mdb.list("customer")[0]) == list("amy bea cal dan eve fay gus".split())

    def matching(**filters):
        rows, total = mdb.list("customer", sort="first_name", filters=filters)
        assert len(rows) == total
        return names(rows)

    assert matching(age="25") == ["bea", "eve"]
    assert matching(**{"age.gt": "25", "age.lte": "41"}) == ["amy", "dan"]
    assert matching(**{"age.ne": "25"}) == ["amy", "cal", "dan", "fay", "gus"]
    assert matching(**{"age.in": "18,60,99"}) == ["fay", "gus"]
    assert matching(**{"score.gte": "3.5", "vip": "true"}) == ["cal", "fay"]
    assert matching(**{"vip.eq": "0"}) == ["bea", "dan", "gus"]
    assert matching(**{"tier.in": "pro,team"}) == ["bea", "cal", "dan", "gus"]
    assert matching(**{"first_name.contains": "A"}) == ["amy", "bea", "cal", "dan", "fay"]
    assert matching(**{"first_name.startswith": "E"}) == ["eve"]
    assert matching(**{"email.contains": "@example."}) == sorted(people)
    assert matching(**{"id.in": f"{people['amy']['id']},{people['gus']['id']}"}) == ["amy", "gus"]
    stamp = people["dan"]["created_at"]
    assert matching(**{"created_at.gte": stamp}) == ["dan", "eve", "fay", "gus"]
    assert matching(**{"first_name.lt": "c"}) == ["amy", "bea"]


BAD_LISTS = [
    ({"limit": 0}, ("query", "limit"), "limit_range"),
    ({"limit": 1001}, ("query", "limit"), "limit_range"),
    ({"offset": -1}, ("query", "offset"), "offset_range"),
    ({"sort": "shoe_size"}, ("query", "sort"), "unknown_sort_key"),
    ({"sort": "age,-age"}, ("query", "sort"), "duplicate_sort_key"),
    ({"sort": "friends"}, ("query", "sort"), "unknown_sort_key"),
    ({"sort": "age,"}, ("query", "sort"), "unknown_sort_key"),
    ({"filters": {"shoe_size": "1"}}, ("query", "shoe_size"), "unknown_field"),
    ({"filters": {"age.like": "1"}}, ("query", "age.like"), "unknown_operator"),
    ({"filters": {"age": "ten"}}, ("query", "age"), "int_parsing"),
    ({"filters": {"age.in": "1,x"}}, ("query", "age.in"), "int_parsing"),
    ({"filters": {"score": "nan"}}, ("query", "score"), "float_parsing"),
    ({"filters": {"vip": "maybe"}}, ("query", "vip"), "bool_parsing"),
    ({"filters": {"tier": "gold"}}, ("query", "tier"), "enum"),
    ({"filters": {"age.contains": "1"}}, ("query", "age.contains"), "operator_not_allowed"),
    ({"filters": {"vip.gt": "1"}}, ("query", "vip.gt"), "operator_not_allowed"),
    ({"filters": {"joined_on.lt": "soon"}}, ("query", "joined_on.lt"), "date_parsing"),
    ({"filters": {"referred_by": "x"}}, ("query", "referred_by"), "uuid_parsing"),
    ({"filters": {"first_name": "a\x00"}}, ("query", "first_name"), "string_type"),
    ({"filters": {"friends": "x"}}, ("query", "friends"), "unknown_field"),
]


def test_bad_listing_parameters_are_refused(mdb):
    for kwargs, loc, kind in BAD_LISTS:
        with pytest.raises(Problems) as info:
            mdb.list("customer", **kwargs)
        assert (loc, kind) in problems_of(info), kwargs


def test_json_fields_cannot_be_sorted_or_filtered(mdb):
    for kwargs in ({"sort": "tags"}, {"filters": {"specs": "{}"}}):
        with pytest.raises(Problems):
            mdb.list("product", **kwargs)


# SQL metacharacters, LIKE wildcards and what PyDAL would paste into SQL verbatim if it were
# given a string for belongs() or orderby.
NASTY = [
    "'",
    "''",
    "\\",
    "\\'",
    "%",
    "_",
    "a%b_c",
    '"',
    ";",
    "--",
    "/*",
    "*/",
    "'; DROP TABLE customer; --",
    "x' OR '1'='1",
    "1) OR (1=1",
    "' UNION SELECT id FROM company --",
    "SELECT id FROM customer",
    "customer.id",
    "(SELECT 1)",
    "NULL",
    "true",
    "0x41",
    "é✓",
    "a\tb\nc",
    "%' OR 1=1 OR first_name LIKE '%",
]


def test_metacharacters_and_injection_strings_are_data(mdb, people):
    weird = [
        mdb.create("customer", first_name=text, email=f"w{i}@example.com", last_name=f"{text}!")
        for i, text in enumerate(NASTY)
    ]
    total = 7 + len(NASTY)
    for row, text in zip(weird, NASTY, strict=True):
        for op, value in (
            ("eq", text),
            ("in", text.replace(",", "")),
            ("startswith", text),
            ("contains", text),
        ):
            if op == "in" and "," in text:
                continue
            rows, _ = mdb.list("customer", filters={f"first_name.{op}": value}, limit=1000)
            ids = {r["id"] for r in rows}
            assert row["id"] in ids, (op, text)
            if op == "eq":
                assert ids == {row["id"]}, (op, text)
            # Every match really holds the value: nothing matched by a wildcard or by SQL.
            for r in rows:
                held = r["first_name"].lower()
                if op == "contains":
                    assert text.lower() in held, (op, text, held)
                elif op == "startswith":
                    assert held.startswith(text.lower()), (op, text, held)
        rows, _ = mdb.list("customer", filters={"last_name.contains": f"{text}!"})
        assert row["id"] in {r["id"] for r in rows}
    for key in (
        "id; DROP TABLE customer",
        "customer.id",
        "(SELECT 1)",
        "first_name DESC",
        "first_name,email;",
        "-",
        "--first_name",
        "id)",
        "<random>",
        "first_name ",
        "FIRST_NAME",
    ):
        with pytest.raises(Problems):
            mdb.list("customer", sort=key)
    for key in (
        "first_name) OR (1=1",
        "first_name.eq.eq",
        "customer.first_name",
        "id;--.eq",
        "first_name.belongs",
        "first_name.in)",
    ):
        with pytest.raises(Problems):
            mdb.list("customer", filters={key: "x"})
    assert mdb.count("customer") == total
    assert mdb.list("customer")[1] == total
    assert mdb.count("company") == 0
