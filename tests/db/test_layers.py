"""Values cross the two layers unchanged, and both layers set the same SQLite pragmas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.models import Item, User
from services.db.types import uuid_from_hex

# Text a client may send: any Unicode but NUL and lone surrogates, which the API refuses.
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=60,
)
_NAIVE = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 31))


def _sa_user(engine, **values):
    values = {
        "id": uuid.uuid4(),
        "email": f"{uuid.uuid4().hex}@example.com",
        "hashed_password": "h",
        **values,
    }
    now = datetime(2024, 1, 1)
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    with engine.begin() as conn:
        conn.execute(sa.insert(User.__table__).values(**values))
    return values["id"]


def test_booleans_agree_both_ways(engine, dal):
    sa_admin = _sa_user(engine, is_superuser=True)
    sa_plain = _sa_user(engine, is_superuser=False)
    pd_admin = dal.user.insert(email="a@example.com", hashed_password="h", is_superuser=True)["id"]
    dal.commit()

    found = {r.id for r in dal(dal.user.is_superuser == True).select(dal.user.id)}  # noqa: E712
    assert found == {sa_admin, pd_admin}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(User.id).where(User.is_superuser.is_(True))).scalars()
        assert set(rows) == {sa_admin, pd_admin}
        flags = dict(conn.execute(sa.select(User.id, User.is_superuser)).all())
    assert flags == {sa_admin: True, sa_plain: False, pd_admin: True}
    # The server default (not a PyDAL default) fills is_active for SQLAlchemy's raw insert too.
    assert all(r.is_active is True for r in dal(dal.user).select(dal.user.is_active))


def test_uuid_written_by_either_layer_is_found_by_both(engine, dal):
    sa_id = _sa_user(engine)
    pd_id = dal.user.insert(email="p@example.com", hashed_password="h")["id"]
    dal.commit()
    assert isinstance(pd_id, uuid.UUID)
    for wanted in (sa_id, pd_id, str(sa_id), str(pd_id)):
        rows = dal(dal.user.id == wanted).select(dal.user.id)
        assert [r.id for r in rows] == [uuid.UUID(str(wanted))]
    with engine.connect() as conn:
        assert conn.execute(sa.select(User.id).where(User.id == pd_id)).scalar_one() == pd_id


def test_aware_datetimes_are_stored_as_naive_utc_with_microseconds(engine, dal):
    owner = dal.user.insert(email="t@example.com", hashed_password="h")["id"]
    aware = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    item = dal.item.insert(title="t", owner_id=owner, created_at=aware)["id"]
    dal.commit()
    expected = datetime(2024, 5, 6, 5, 8, 9, 123456)
    row = dal(dal.item.id == item).select(dal.item.created_at).first()
    assert row.created_at == expected
    with engine.connect() as conn:
        assert conn.execute(sa.select(Item.created_at)).scalar_one() == expected
    # A query with the aware value finds the row: the parameter is converted the same way.
    assert dal(dal.item.created_at == aware).count() == 1
    assert dal(dal.item.created_at == aware.astimezone(UTC)).count() == 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=_TEXT, when=_NAIVE, superuser=st.booleans())
def test_pydal_writes_read_back_through_sqlalchemy(engine, dal, title, when, superuser):
    owner = dal.user.insert(
        email=f"{uuid.uuid4().hex}@x.io",
        hashed_password="h",
        full_name=title,
        is_superuser=superuser,
    )["id"]
    item = dal.item.insert(title=title, owner_id=owner, created_at=when)["id"]
    dal.commit()
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(Item.title, Item.created_at, Item.owner_id).where(Item.id == item)
        ).one()
        user = conn.execute(
            sa.select(User.full_name, User.is_superuser).where(User.id == owner)
        ).one()
    assert tuple(got) == (title, when, owner)
    assert tuple(user) == (title, superuser)
    # Equality through PyDAL finds exactly this row (quotes and backslashes are data).
    assert [
        r.id
        for r in dal((dal.item.title == title) & (dal.item.owner_id == owner)).select(dal.item.id)
    ] == [item]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=_TEXT, when=_NAIVE)
def test_sqlalchemy_writes_read_back_through_pydal(engine, dal, title, when):
    owner = _sa_user(engine)
    item = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Item.__table__).values(
                id=item, title=title, owner_id=owner, created_at=when, updated_at=when
            )
        )
    # End PyDAL's previous transaction: MariaDB's REPEATABLE READ snapshot would hide the row
    # (each request does the same by committing or rolling back at its end).
    dal.rollback()
    row = dal(dal.item.id == item).select().first()
    assert (row.title, row.created_at, row.owner_id) == (title, when, owner)
    assert dal(dal.item.created_at == when).select(dal.item.id).column("id").count(item) == 1


def test_delete_cascades_from_either_layer(engine, dal):
    owner = _sa_user(engine)
    dal.item.insert(title="x", owner_id=owner)
    dal.commit()
    with engine.begin() as conn:
        conn.execute(sa.delete(User.__table__).where(User.id == owner))
    assert dal(dal.item.owner_id == owner).count() == 0


def test_sqlite_pragmas_set_by_both_layers(tmp_path):
    from services.db import migrations
    from services.db.urls import sqlite_target

    target = sqlite_target(tmp_path / "p.db")
    migrations.upgrade(target)
    wanted = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}

    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            got = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in wanted}
    finally:
        engine.dispose()
    assert got == wanted

    db = open_dal(target)
    try:
        got = {p: db.executesql(f"PRAGMA {p}")[0][0] for p in wanted}
    finally:
        db.close()
    assert got == wanted


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234"])
def test_malformed_uuid_is_refused_before_sql(dal, bad):
    with pytest.raises(ValueError):
        dal(dal.user.id == bad).select()


@given(st.uuids(), st.sampled_from([str.lower, str.upper]))
def test_ids_read_from_hex_equal_what_uuid_makes(value, case):
    # uuid_from_hex skips uuid.UUID's constructor (issue 17): same value, hash, text, order.
    text = case(value.hex)
    fast = uuid_from_hex(text)
    assert type(fast) is uuid.UUID
    assert fast == value and hash(fast) == hash(value) and str(fast) == str(value)
    assert fast.is_safe == uuid.UUID(text).is_safe and repr(fast) == repr(value)


@pytest.mark.parametrize("bad", ["-" + "f" * 31, "g" * 32, " " * 32, "0x" + "0" * 30 + "zz"])
def test_ids_read_from_hex_refuse_what_uuid_refuses(bad):
    with pytest.raises(ValueError):
        uuid.UUID(bad)
    with pytest.raises(ValueError):
        uuid_from_hex(bad)
