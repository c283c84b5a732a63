"""Seeding an app database on every backend: linked rows, determinism, all or nothing, chosen
entities, refusals, and a property test over generated definitions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.appdb import rows as R
from services.appdb import seed as S
from services.appdb.definition import Definition, problems
from services.appdb.schema import build_metadata, join_tables
from services.appdb.values import SYSTEM_FIELDS
from services.db.dal import close_dal
from services.errors import Problems
from tests.appdb.modeldb import (
    ENTITIES,
    ModelDB,
    all_rows,
    check_integrity,
    definition_of,
    problems_of,
)

# --------------------------------------------------------------------------- seeding


def test_seed_links_real_rows_and_keeps_unique_values_unique(mdb):
    answer = mdb.seed(max_instances_per_entity=9, seed=11)
    assert set(answer) == {"entities_created", "relationships_created", "duration_ms", "seed"}
    assert answer["entities_created"] == 9 * len(ENTITIES) and answer["seed"] == 11
    assert answer["relationships_created"] > 0 and answer["duration_ms"] >= 0
    for entity in ENTITIES:
        assert mdb.count(entity) == 9
    check_integrity(mdb, mdb.definition)
    links = mdb.count("purchase__products") + mdb.count("customer__friends")
    references = sum(
        mdb.scalar(f"SELECT COUNT({mdb.q(c)}) FROM {mdb.q(e)}")
        for e, c in (
            ("company", "ceo"),
            ("customer", "referred_by"),
            ("customer", "employer"),
            ("purchase", "customer"),
            ("review", "author"),
            ("review", "product"),
        )
    )
    assert answer["relationships_created"] == links + references
    # The cycle company.ceo <-> customer.employer is filled both ways.
    assert mdb.scalar(f"SELECT COUNT(ceo) FROM {mdb.q('company')}") == 9
    assert mdb.scalar(f"SELECT COUNT(employer) FROM {mdb.q('customer')}") == 9


def snapshot(m: ModelDB) -> dict:
    return {e: all_rows(m, e) for e in ENTITIES}


def test_same_seed_same_data_and_another_seed_other_data(mdb):
    mdb.seed(max_instances_per_entity=6, seed=1234)
    first = snapshot(mdb)
    mdb.seed(max_instances_per_entity=6, seed=1234)
    assert snapshot(mdb) == first
    answer = mdb.seed(max_instances_per_entity=6, seed=99)
    assert answer["seed"] == 99
    assert snapshot(mdb)["customer"] != first["customer"]
    picked = mdb.seed(max_instances_per_entity=6)["seed"]
    again = snapshot(mdb)
    mdb.seed(max_instances_per_entity=6, seed=picked)
    assert snapshot(mdb) == again


def stored(m: ModelDB) -> dict[str, list[tuple]]:
    """Every table's rows as stored, in key order (plain SQL)."""
    out = {}
    with m.engine.connect() as conn:
        for entity in ENTITIES:
            out[entity] = [
                tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {m.q(entity)} ORDER BY id"))
            ]
        for join in join_tables(m.definition):
            out[join.name] = [
                tuple(r)
                for r in conn.execute(
                    sa.text(f"SELECT * FROM {m.q(join.name)} ORDER BY source_id, target_id")
                )
            ]
    return out


def test_chunking_and_caches_do_not_change_the_data(mdb, monkeypatch):
    mdb.seed(max_instances_per_entity=300, seed=77)
    whole = stored(mdb)
    check_integrity(mdb, mdb.definition)
    # Tiny chunks, statements and id cache: many statements, fills and recomputed ids.
    monkeypatch.setattr(S, "CHUNK_ROWS", 7)
    monkeypatch.setattr(S, "FILL_CHUNK", 5)
    monkeypatch.setattr(S, "ID_CACHE_MAX", 10)
    monkeypatch.setattr(S, "ROWS_PER_STATEMENT", 3)
    seen = []
    mdb.seed(
        max_instances_per_entity=300,
        seed=77,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert stored(mdb) == whole
    assert len(seen) > 200 and seen[-1][0] == seen[-1][1] == 1500 + mdb.count(
        "purchase__products"
    ) + mdb.count("customer__friends")
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_progress_bar_is_a_progress_callback(mdb):
    import io

    out = io.StringIO()
    with S.progress_bar(file=out, disable=False) as progress:
        mdb.seed(max_instances_per_entity=3, seed=1, progress=progress)
    assert "seeding: 100%" in out.getvalue()


def test_seed_is_all_or_nothing(mdb):
    keep = mdb.create("company", name="Keep me")
    lamp = mdb.create("product", title="Lamp")
    review = mdb.create("review", rating=4, product=lamp["id"])
    before = {e: mdb.count(e) for e in ENTITIES}

    def crash(done, total):
        if done > 5:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        mdb.seed(max_instances_per_entity=8, seed=1, progress=crash)
    assert {e: mdb.count(e) for e in ENTITIES} == before
    assert mdb.get("company", keep["id"])["name"] == "Keep me"
    assert mdb.get("review", review["id"])["rating"] == 4


def test_seed_specific_entities_and_preserve_existing(mdb):
    mdb.seed(max_instances_per_entity=4, seed=2)
    products = {r["id"] for r in all_rows(mdb, "product")}
    reviews_before = {r["id"] for r in all_rows(mdb, "review")}
    answer = mdb.seed(max_instances_per_entity=5, seed=3, specific_entities=["review"])
    assert answer["entities_created"] == 5
    reviews = all_rows(mdb, "review")
    assert len(reviews) == 5 and not reviews_before & {r["id"] for r in reviews}
    assert {r["product"] for r in reviews} <= products  # existing rows of entities not seeded
    assert {r["id"] for r in all_rows(mdb, "product")} == products
    progress = []
    mdb.seed(
        max_instances_per_entity=4,
        seed=2,
        preserve_existing=True,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert progress and progress[-1][0] == progress[-1][1]
    for entity, count in (("company", 8), ("customer", 8), ("review", 9)):
        assert mdb.count(entity) == count
    check_integrity(mdb, mdb.definition)
    # Preserving again with the same seed still gives new ids and unique values.
    mdb.seed(max_instances_per_entity=4, seed=2, preserve_existing=True)
    assert mdb.count("customer") == 12
    check_integrity(mdb, mdb.definition)


def test_seed_clashes_with_hand_made_unique_values_are_avoided(mdb):
    mdb.seed(max_instances_per_entity=3, seed=21)
    made = sorted(all_rows(mdb, "customer"), key=lambda r: r["created_at"])
    # With 6 rows there, a preserving seed makes rows 6, 7 and 8: people made those emails.
    clashing = [r["email"].replace(f".{k}@", f".{k + 6}@") for k, r in enumerate(made)]
    R.empty(db=mdb.db, definition=mdb.definition)
    for i, email in enumerate([f"h{i}@example.com" for i in range(3)] + clashing):
        mdb.create("customer", first_name=f"n{i}", email=email)
    mdb.seed(
        max_instances_per_entity=3, seed=21, preserve_existing=True, specific_entities=["customer"]
    )
    assert mdb.count("customer") == 9
    check_integrity(mdb, mdb.definition)
    emails = [r["email"] for r in all_rows(mdb, "customer")]
    assert len(set(emails)) == 9 and set(clashing) <= set(emails)


def test_seed_refuses_what_cannot_be_seeded(mdb):
    with pytest.raises(Problems) as info:
        mdb.seed(max_instances_per_entity=-1, specific_entities=["nope", 3], seed="x")
    assert sorted(problems_of(info)) == sorted(
        [
            (("body", "max_instances_per_entity"), "int_type"),
            (("body", "specific_entities", 0), "unknown_entity"),
            (("body", "specific_entities", 1), "unknown_entity"),
            (("body", "seed"), "int_type"),
        ]
    )
    assert mdb.seed(max_instances_per_entity=0)["entities_created"] == 0


def test_a_cycle_of_required_references_is_refused(fresh_target):
    doc = {
        "entities": [
            {
                "name": "hen",
                "fields": [{"name": "egg", "type": "Reference", "target": "egg", "required": True}],
            },
            {
                "name": "egg",
                "fields": [{"name": "hen", "type": "Reference", "target": "hen", "required": True}],
            },
        ]
    }
    m = ModelDB(fresh_target, definition_of(doc))
    try:
        with pytest.raises(Problems) as info:
            m.seed(max_instances_per_entity=2, seed=1)
        assert problems_of(info) == [(("body", "specific_entities"), "reference_cycle")]
    finally:
        m.db.rollback()
        m.close()


def test_required_self_references_and_one_to_one(fresh_target):
    doc = {
        "entities": [
            {
                "name": "node",
                "fields": [
                    {"name": "label", "type": "String", "required": True, "unique": True},
                    {"name": "parent", "type": "Reference", "target": "node", "required": True},
                    {"name": "twin", "type": "Reference", "target": "node", "unique": True},
                    {"name": "kind", "type": "Enum", "values": ["x", "y"], "unique": True},
                    {"name": "flag", "type": "Boolean", "unique": True},
                    {"name": "day", "type": "Date", "unique": True},
                    {"name": "moment", "type": "DateTime", "unique": True},
                    {"name": "ordinal", "type": "Integer", "unique": True},
                    {"name": "weight", "type": "Float", "unique": True},
                ],
            },
            {
                "name": "passport",
                "fields": [
                    {
                        "name": "holder",
                        "type": "Reference",
                        "target": "node",
                        "required": True,
                        "unique": True,
                    },
                ],
            },
        ]
    }
    m = ModelDB(fresh_target, definition_of(doc))
    try:
        m.seed(max_instances_per_entity=25, seed=4)
        check_integrity(m, m.definition)
        nodes = all_rows(m, "node")
        assert all(n["parent"] for n in nodes) and len({n["kind"] for n in nodes}) == 3
        assert m.scalar("SELECT COUNT(DISTINCT holder) FROM passport") == 25
        m.seed(max_instances_per_entity=25, seed=4, preserve_existing=True)
        check_integrity(m, m.definition)
        assert m.count("node") == 50
    finally:
        m.db.rollback()
        m.close()


# --------------------------------------------------------------------------- property


SIMPLE_TYPES = [
    "String",
    "Text",
    "Integer",
    "Float",
    "Boolean",
    "DateTime",
    "Date",
    "Array",
    "Object",
    "Enum",
]
FIELD_NAMES = [
    "name",
    "email",
    "title",
    "description",
    "age",
    "price",
    "quantity",
    "city",
    "first_name",
    "phone",
    "url",
    "rating",
    "birthday",
    "code",
    "amount",
    "value",
]


@st.composite
def definitions(draw) -> dict:
    """Small valid definitions whose references only point back (or at themselves)."""
    n = draw(st.integers(1, 3))
    entities = []
    for i in range(n):
        fields = []
        used: set[str] = set()
        for j in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from([*SIMPLE_TYPES, "Reference"]))
            name = draw(st.sampled_from(FIELD_NAMES))
            name = name if name not in used else f"{name}_{j}"
            used.add(name)
            spec = {"name": name, "type": kind, "required": draw(st.booleans())}
            if kind not in ("Array", "Object", "Text"):
                spec["unique"] = draw(st.booleans())
            if kind == "Enum":
                spec["values"] = draw(
                    st.lists(
                        st.sampled_from(["a", "b", "c", "d"]), min_size=2, max_size=4, unique=True
                    )
                )
            if kind == "Reference":
                spec["target"] = f"t{draw(st.integers(0, i))}"
            fields.append(spec)
        entities.append({"name": f"t{i}", "fields": fields})
    relationships = []
    for k in range(draw(st.integers(0, 2))):
        a, b = sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
        kind = draw(st.sampled_from(["OneToMany", "ManyToMany"]))
        relationships.append({"type": kind, "from": f"t{a}", "to": f"t{b}", "name": f"rel{k}"})
    return {"entities": entities, "relationships": relationships}


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=definitions(), seed=st.integers(0, 2**32))
def test_seeded_rows_round_trip(fresh_target, doc, seed):
    definition = Definition.model_validate(doc)
    if problems(definition):
        return
    m = ModelDB(fresh_target, definition)
    try:
        m.seed(max_instances_per_entity=2, seed=seed)
        check_integrity(m, definition)
        for entity in definition.entities:
            rows = all_rows(m, entity.name)
            assert len(rows) == 2
            for row in rows:
                body = {k: v for k, v in row.items() if k not in SYSTEM_FIELDS}
                again = m.update(entity.name, row["id"], **body)
                assert {k: again[k] for k in body} == body
                assert m.get(entity.name, row["id"]) == again
    finally:
        m.db.rollback()
        close_dal(m.db)
        build_metadata(definition).drop_all(m.engine)
        m.engine.dispose()
