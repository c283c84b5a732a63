"""Migrations on every backend: up, down, up again, with data surviving where the schema allows."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from services.db import migrations
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.models import metadata


def _table_names(target) -> set[str]:
    engine = make_engine(target)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_target):
    migrations.upgrade(fresh_target)
    assert migrations.current_revision(fresh_target) == migrations.head_revision()
    assert _table_names(fresh_target) == set(metadata.tables)

    migrations.downgrade(fresh_target, "base")
    assert migrations.current_revision(fresh_target) is None
    assert _table_names(fresh_target) == set()

    migrations.upgrade(fresh_target)
    assert migrations.current_revision(fresh_target) == migrations.head_revision()
    assert _table_names(fresh_target) == set(metadata.tables)


def test_upgrade_twice_is_a_no_op_and_keeps_data(migrated_target):
    db = open_dal(migrated_target)
    user = db.user.insert(email="keep@example.com", hashed_password="x")["id"]
    db.item.insert(title="kept", owner_id=user)
    db.commit()
    db.close()

    migrations.upgrade(migrated_target)  # already at head: nothing to do

    db = open_dal(migrated_target)
    try:
        assert db(db.user.id == user).count() == 1
        assert [r.title for r in db(db.item.owner_id == user).select(db.item.title)] == ["kept"]
    finally:
        db.close()


def test_downgrade_removes_only_what_the_revision_made(migrated_target):
    # Nothing else but alembic_version is left after a full downgrade.
    engine = make_engine(migrated_target)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE bystander (id INTEGER PRIMARY KEY)")
    finally:
        engine.dispose()
    migrations.downgrade(migrated_target, "base")
    assert _table_names(migrated_target) == {"bystander"}


def test_every_revision_has_a_downgrade():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config())
    for rev in script.walk_revisions():
        source = Path(rev.path).read_text(encoding="utf-8")
        body = source.split("def downgrade", 1)[1]
        assert "op." in body, f"revision {rev.revision} has an empty downgrade"
