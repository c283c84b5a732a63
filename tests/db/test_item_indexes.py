"""Revision 0005: the item lists' indexes, up and down on every backend, used by the lists."""

from __future__ import annotations

import sqlalchemy as sa

from services.db import migrations
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.lifecycle import structural_parity


def _item_indexes(target) -> set[tuple[str, ...]]:
    engine = make_engine(target)
    try:
        return {
            tuple(i["column_names"])
            for i in sa.inspect(engine).get_indexes("item")
            if not i["name"].startswith("fk_")  # MariaDB's own index for a foreign key
        }
    finally:
        engine.dispose()


def test_revision_0005_adds_the_list_indexes_and_goes_back(fresh_target, tmp_path):
    migrations.upgrade(fresh_target, "0004")
    assert _item_indexes(fresh_target) == {("owner_id",)}
    migrations.upgrade(fresh_target, "0005")
    assert _item_indexes(fresh_target) == {("created_at",), ("owner_id", "created_at")}
    migrations.downgrade(fresh_target, "0004")
    assert _item_indexes(fresh_target) == {("owner_id",)}
    migrations.upgrade(fresh_target)
    assert _item_indexes(fresh_target) >= {("created_at",), ("owner_id", "created_at")}


def test_the_migrated_indexes_match_the_models_and_pydal(migrated_target, tmp_path):
    from services.config import load_settings

    url = migrated_target.sa_url.render_as_string(hide_password=False)
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"DATABASE_URL": url})
    assert structural_parity(settings) == []


def test_item_list_queries_use_the_indexes_on_sqlite(tmp_path):
    """SQLite's plan for the service's own list queries (PostgreSQL and MariaDB plan by table
    statistics, which an empty test table does not have)."""
    from services.db.urls import sqlite_target

    target = sqlite_target(tmp_path / "plan.db")
    migrations.upgrade(target)
    db = open_dal(target)
    try:
        newest_first = ~db.item.created_at | db.item.id
        plans = {}
        for name, query in (
            ("all", db.item.id != None),  # noqa: E711 - PyDAL spells IS NOT NULL this way
            ("owner", db.item.owner_id == "0" * 32),
        ):
            sql = db(query)._select(db.item.id, orderby=newest_first, limitby=(0, 100))
            plans[name] = " ".join(r[3] for r in db.executesql(f"EXPLAIN QUERY PLAN {sql}"))
    finally:
        db.close()
    assert "USING INDEX ix_item_created_at" in plans["all"], plans
    assert "USING INDEX ix_item_owner_id_created_at" in plans["owner"], plans
