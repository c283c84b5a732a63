"""Values a client sends for a row, on every backend: what does not fit is refused with its
location, several problems at once."""

from __future__ import annotations

import gc
import math
import uuid
import weakref

import pytest

from services.appdb import rows as R
from services.appdb import values
from services.errors import Problems
from tests.appdb.modeldb import definition_of, problems_of

# --------------------------------------------------------------------------- bad input


BAD_BODIES = [
    ({"first_name": 3, "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    ({"first_name": "x" * 256, "email": "x@e.com"}, [(("body", "first_name"), "string_too_long")]),
    ({"email": "x@e.com"}, [(("body", "first_name"), "missing")]),
    ({"first_name": None, "email": "x@e.com"}, [(("body", "first_name"), "missing")]),
    ({"first_name": "a", "email": "x@e.com", "nope": 1}, [(("body", "nope"), "extra_forbidden")]),
    ({"first_name": "a", "email": "x@e.com", "age": "3"}, [(("body", "age"), "int_type")]),
    ({"first_name": "a", "email": "x@e.com", "age": True}, [(("body", "age"), "int_type")]),
    ({"first_name": "a", "email": "x@e.com", "age": 2**63}, [(("body", "age"), "int_range")]),
    (
        {"first_name": "a", "email": "x@e.com", "score": math.nan},
        [(("body", "score"), "finite_number")],
    ),
    ({"first_name": "a", "email": "x@e.com", "vip": "yes"}, [(("body", "vip"), "bool_type")]),
    ({"first_name": "a", "email": "x@e.com", "tier": "gold"}, [(("body", "tier"), "enum")]),
    (
        {"first_name": "a", "email": "x@e.com", "joined_on": "2024-13-01"},
        [(("body", "joined_on"), "date_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "joined_on": "0999-01-01"},
        [(("body", "joined_on"), "date_range")],
    ),
    ({"first_name": "a\x00b", "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    ({"first_name": "a\ud800", "email": "x@e.com"}, [(("body", "first_name"), "string_type")]),
    (
        {"first_name": "a", "email": "x@e.com", "referred_by": "not-a-uuid"},
        [(("body", "referred_by"), "uuid_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "referred_by": str(uuid.UUID(int=7))},
        [(("body", "referred_by"), "reference_not_found")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "friends": "all"},
        [(("body", "friends"), "list_type")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "friends": [str(uuid.UUID(int=8)), "zz"]},
        [(("body", "friends", 1), "uuid_parsing")],
    ),
    (
        {"first_name": "a", "email": "x@e.com", "created_at": "2024-01-01T00:00:00"},
        [(("body", "created_at"), "read_only")],
    ),
    ({"first_name": "a", "email": "x@e.com", "id": 5}, [(("body", "id"), "uuid_type")]),
]


def test_values_that_do_not_fit_are_refused_with_their_location(mdb):
    # One database for all the cases: a fresh server database per case is slow.
    for body, expected in BAD_BODIES:
        with pytest.raises(Problems) as info:
            R.create_row(db=mdb.db, definition=mdb.definition, entity="customer", data=body)
        assert problems_of(info) == expected, body
        mdb.db.rollback()
    assert mdb.count("customer") == 0


def test_more_bad_values_and_several_problems_at_once(mdb):
    with pytest.raises(Problems) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="product",
            data={"title": ["x"], "tags": {"a": 1}, "specs": [1], "price": "1"},
        )
    assert sorted(problems_of(info)) == sorted(
        [
            (("body", "title"), "string_type"),
            (("body", "tags"), "list_type"),
            (("body", "specs"), "dict_type"),
            (("body", "price"), "float_type"),
        ]
    )
    with pytest.raises(Problems) as info:
        R.create_row(
            db=mdb.db,
            definition=mdb.definition,
            entity="purchase",
            data={"placed_at": "yesterday", "note": "é" * 40000},
        )
    assert sorted(problems_of(info)) == [
        (("body", "note"), "string_too_long"),
        (("body", "placed_at"), "datetime_parsing"),
    ]
    with pytest.raises(Problems):
        R.create_row(db=mdb.db, definition=mdb.definition, entity="purchase", data=["x"])
    row = mdb.create("customer", first_name="a", email="a@e.com")
    with pytest.raises(Problems) as info:
        mdb.update("customer", row["id"], id=str(uuid.uuid4()), email=None)
    assert sorted(problems_of(info)) == [
        (("body", "email"), "missing"),
        (("body", "id"), "read_only"),
    ]


def test_entity_plans_are_kept_for_a_bounded_number_of_definitions():
    # Plans are kept per definition (issue 17); a definition no longer used (a model deleted or
    # changed) must be let go once PLANS_KEPT others were used after it.
    def definition():
        return definition_of(
            {"entities": [{"name": "note", "fields": [{"name": "title", "type": "String"}]}]}
        )

    first = definition()
    plan = values.entity_plan(first, "note")
    assert values.entity_plan(first, "note") is plan  # kept, not worked out again
    gone = weakref.ref(first)
    del first
    for _ in range(values.PLANS_KEPT * 3):
        values.entity_plan(definition(), "note")
    gc.collect()
    assert gone() is None
    assert len(values._PLANS) <= values.PLANS_KEPT
