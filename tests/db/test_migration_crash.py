"""A process killed in the middle of a migration leaves the previous revision intact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from services.db import migrations
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.parity import compare_database_to_pydal

ROOT = Path(__file__).resolve().parents[2]

# A revision that changes a lot, then dies as a kill -9 would (no cleanup, no rollback).
CRASHING_REVISION = '''
"""crash mid-way"""
import os
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.alter_column("description", type_=sa.String(50))
    op.execute("DELETE FROM item")
    os._exit(9)


def downgrade():
    pass
'''

RUNNER = """
import sys
from alembic import command
from services.db import migrations
from services.db.engine import make_engine
from services.db.urls import parse_database_url

target = parse_database_url(sys.argv[2])
engine = make_engine(target)
with engine.connect() as connection:
    config = migrations.alembic_config(connection)
    config.set_main_option("script_location", sys.argv[1])
    command.upgrade(config, "head")
"""


def test_kill_during_migration_keeps_the_old_revision(migrated_target, tmp_path):
    scripts = tmp_path / "alembic"
    shutil.copytree(ROOT / "alembic", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = migrations.head_revision()
    (scripts / "versions" / "9999_crash.py").write_text(
        textwrap.dedent(CRASHING_REVISION.format(head=head)), encoding="utf-8"
    )
    db = open_dal(migrated_target)
    owner = db.user.insert(email="o@example.com", hashed_password="h")["id"]
    db.item.insert(title="survivor", description="x" * 40, owner_id=owner)
    db.commit()
    db.close()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    url = migrated_target.sa_url.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(scripts), url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 9, result.stderr

    assert migrations.current_revision(migrated_target) == head
    engine = make_engine(migrated_target)
    db = open_dal(migrated_target)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            findings = compare_database_to_pydal(conn, db)
            if migrated_target.family == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        if migrated_target.family == "mysql":
            # MariaDB commits every DDL statement implicitly: no engine can make this atomic.
            # What it can do is notice: the stray table is reported, the revision is unchanged.
            assert "half_done" in tables
            assert any(f.table == "half_done" for f in findings)
        else:
            assert "half_done" not in tables
            assert findings == []
            rows = db(db.item).select(db.item.title, db.item.description)
            assert [(r.title, r.description) for r in rows] == [("survivor", "x" * 40)]
    finally:
        db.close()
        engine.dispose()
    # The real migrations still apply cleanly afterwards.
    migrations.upgrade(migrated_target)
    assert migrations.current_revision(migrated_target) == head
