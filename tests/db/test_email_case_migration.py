"""The migration that makes emails unique ignoring case stops on existing case duplicates."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from services.db import migrations
from services.db.engine import make_engine

BEFORE = "0006"


def _add_users(target, emails: list[str]) -> None:
    engine = make_engine(target)
    user = sa.table(
        "user",
        sa.column("id", sa.Uuid),
        sa.column("email", sa.String),
        sa.column("hashed_password", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    try:
        with engine.begin() as conn:
            for email in emails:
                now = sa.func.current_timestamp()
                values = {"id": uuid.uuid4(), "email": email, "hashed_password": "x"}
                conn.execute(user.insert().values(**values, created_at=now, updated_at=now))
    finally:
        engine.dispose()


def test_existing_case_duplicates_stop_the_migration_with_a_list_of_them(fresh_target):
    migrations.upgrade(fresh_target, BEFORE)
    _add_users(fresh_target, ["dup@example.com", "Dup@Example.com", "single@example.com"])
    with pytest.raises(Exception, match="dup@example.com, Dup@Example.com|Dup@Example.com, dup@"):
        migrations.upgrade(fresh_target)
    assert migrations.current_revision(fresh_target) == BEFORE


def test_without_case_duplicates_the_migration_applies_and_keeps_every_email(fresh_target):
    migrations.upgrade(fresh_target, BEFORE)
    _add_users(fresh_target, ["One@example.com", "two@example.com"])
    migrations.upgrade(fresh_target)
    engine = make_engine(fresh_target)
    try:
        with engine.connect() as conn:
            user = sa.table("user", sa.column("email"), sa.column("email_key"))
            rows = [tuple(r) for r in conn.execute(sa.select(user.c.email, user.c.email_key))]
    finally:
        engine.dispose()
    assert sorted(rows) == [
        ("One@example.com", "one@example.com"),
        ("two@example.com", "two@example.com"),
    ]
