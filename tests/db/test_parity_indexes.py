"""Parity compares indexes: by columns in order, uniqueness and partial WHERE, not by name, in
models vs PyDAL (b), live database vs PyDAL (c) and models vs migrations (a), on every backend;
a dropped non-unique index stops start-up.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.config import load_settings
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.indexes import declare_index
from services.db.parity import (
    compare_database_to_pydal,
    compare_models_to_database,
    compare_models_to_pydal,
)
from services.db.urls import DatabaseTarget
from services.lifecycle import StartupError, prepare_database
from tests.db.sink_schema import SINK_INDEXES, SinkIndexes, define_sink, sink_metadata
from tests.db.test_parity import LIVE, MIGRATIONS, MODELS, render, sink_dal, where


def _with(*changes: tuple[str, str, tuple[str, ...], bool], without: str = "") -> SinkIndexes:
    """The sink's indexes with some replaced (same name) or added, and one left out."""
    by_name = {i[0]: i for i in SINK_INDEXES if i[0] != without}
    by_name.update({c[0]: c for c in changes})
    return list(by_name.values())


def _build(target: DatabaseTarget, indexes: SinkIndexes) -> None:
    engine = make_engine(target)
    try:
        sink_metadata(indexes=indexes).create_all(engine)
    finally:
        engine.dispose()


def _drop_index(engine: sa.Engine, family: str, name: str, table: str) -> None:
    on = f" ON {table}" if family == "mysql" else ""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {name}{on}")


def _database_vs_pydal(target: DatabaseTarget) -> list:
    engine = make_engine(target)
    try:
        with sink_dal(target) as db, engine.connect() as conn:
            return compare_database_to_pydal(conn, db)
    finally:
        engine.dispose()


def test_a_dropped_non_unique_index_is_a_finding_naming_it_and_the_fix(fresh_target):
    _build(fresh_target, SINK_INDEXES)
    engine = make_engine(fresh_target)
    try:
        _drop_index(engine, fresh_target.family, "ix_kid_happened", "kid")
    finally:
        engine.dispose()
    found = _database_vs_pydal(fresh_target)
    assert where(found, LIVE) == {("kid", "happened", "index")}, render(found)
    (finding,) = found
    assert "ix_kid_happened" in str(finding)
    assert "alembic upgrade head" in finding.fix
    assert "CREATE INDEX ix_kid_happened ON kid (happened)" in finding.fix


LIVE_INDEX_CASES = [
    pytest.param(
        _with(("ix_other_name", "kid", ("happened",), False), without="ix_kid_happened"),
        set(),
        id="same index under another name",
    ),
    pytest.param(
        _with(("ix_kid_count_big", "kid", ("big", "count"), False)),
        {("kid", "big,count", "index"), ("kid", "count,big", "index")},
        id="columns in another order",
    ),
    pytest.param(
        _with(("uq_kid_token_big", "kid", ("token", "big"), False)),
        {("kid", "token,big", "index")},
        id="composite unique index not unique",
    ),
    pytest.param(
        _with(("ix_kid_ratio", "kid", ("ratio",), False)),
        {("kid", "ratio", "index")},
        id="extra index in the database",
    ),
    pytest.param(
        _with(without="ix_kid_count_big"),
        {("kid", "count,big", "index")},
        id="composite index missing in the database",
    ),
]


@pytest.mark.parametrize(("indexes", "expected"), LIVE_INDEX_CASES)
def test_live_database_index_differences(fresh_target, indexes, expected):
    """(c) compares what each index covers; names are free."""
    _build(fresh_target, indexes)
    found = _database_vs_pydal(fresh_target)
    assert where(found, LIVE) == expected, render(found)


def test_partial_index_where_is_compared(fresh_target):
    """A partial index's WHERE is part of what it covers (MariaDB has no partial indexes, so
    there the same index without WHERE is the clean case)."""
    _build(fresh_target, SINK_INDEXES)
    engine = make_engine(fresh_target)
    partial = fresh_target.family != "mysql"
    try:
        with engine.begin() as conn:
            where_sql = " WHERE count > 0" if partial else ""
            conn.exec_driver_sql(f"CREATE INDEX ix_kid_part ON kid (ratio){where_sql}")
        with engine.connect() as conn:
            for declared, clean in (("count > 0", partial), (None, not partial)):
                with sink_dal(fresh_target) as db:
                    declare_index(db.kid, "ratio", where=declared, name="ix_kid_part")
                    found = compare_database_to_pydal(conn, db)
                expected = set() if clean else {("kid", "ratio", "index")}
                assert where(found, LIVE) == expected, (declared, render(found))
    finally:
        engine.dispose()


def test_pydal_without_the_index_declaration_is_found_against_models_and_database(fresh_target):
    _build(fresh_target, SINK_INDEXES)
    engine = make_engine(fresh_target)
    db = open_dal(fresh_target, define=False)
    try:
        define_sink(db, fresh_target.family, indexes=_with(without="ix_kid_happened"))
        found_b = compare_models_to_pydal(sink_metadata(), db)
        with engine.connect() as conn:
            found_c = compare_database_to_pydal(conn, db)
    finally:
        db.close()
        engine.dispose()
    assert where(found_b, MODELS) == {("kid", "happened", "index")}, render(found_b)
    assert where(found_c, LIVE) == {("kid", "happened", "index")}, render(found_c)
    assert "declare_index(db.kid, 'happened')" in found_c[0].fix
    assert "mirror it: declare_index(db.kid, 'happened')" in found_b[0].fix


@pytest.mark.parametrize(
    ("indexes", "expected"),
    [
        pytest.param(
            _with(("ix_renamed", "kid", ("happened",), False), without="ix_kid_happened"),
            set(),
            id="renamed in the model",
        ),
        pytest.param(
            _with(("ix_kid_ratio", "kid", ("ratio",), False)),
            {("kid", "ratio", "index")},
            id="added to the model",
        ),
        pytest.param(
            _with(without="uq_kid_token_big"),
            {("kid", "token,big", "index")},
            id="composite unique dropped from the model",
        ),
    ],
)
def test_models_vs_migrations_compare_indexes_by_what_they_cover(fresh_target, indexes, expected):
    """(a): Alembic pairs indexes by name; the check pairs them by columns and uniqueness."""
    _build(fresh_target, SINK_INDEXES)
    engine = make_engine(fresh_target)
    try:
        with engine.connect() as conn:
            found = compare_models_to_database(sink_metadata(indexes=indexes), conn)
    finally:
        engine.dispose()
    assert where(found, MIGRATIONS) == expected, render(found)


def test_a_dropped_non_unique_index_stops_start_up(migrated_target, tmp_path):
    """serve's start-up check refuses a database that lost an index, naming it."""
    url = migrated_target.sa_url.render_as_string(hide_password=False)
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"DATABASE_URL": url})
    assert prepare_database(settings)  # clean before
    engine = make_engine(migrated_target)
    try:
        _drop_index(engine, migrated_target.family, "ix_revoked_token_expires_at", "revoked_token")
    finally:
        engine.dispose()
    with pytest.raises(StartupError) as failure:
        prepare_database(settings)
    message = str(failure.value)
    assert "schema parity check failed" in message
    assert "ix_revoked_token_expires_at" in message
    assert "CREATE INDEX ix_revoked_token_expires_at ON revoked_token (expires_at)" in message
