"""The fast start path: skip SQLAlchemy and Alembic when neither the code nor the schema changed.

A full start migrates and runs the structural parity check, which imports SQLAlchemy and Alembic
(about 0.3 s and 25 MB) only to learn, almost every time, that nothing is pending and nothing
drifted. After a full check passes, ``record`` stores three things in the data dir: a hash of
the code that defines the schema (models, PyDAL tables and types, migrations), the revision, and
a fingerprint of the live schema reflected from the database's own catalog. At the next start
``fast_revision`` recomputes them through PyDAL's connection alone; any difference, including
one the catalog shows and the parity check would not, sends the start back to the full check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from services.db.dal import close_dal, open_dal
from services.db.urls import DatabaseTarget

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
RECORD_FILE = "schema-check.json"
# The frozen executable has no sources to hash: sidecar.spec bundles their hash in this file.
BUNDLED_CODE_FINGERPRINT = "schema-code.sha256"
FORMAT = 1

# Every query reads the catalog of the current database (or schema) only; rows are sorted in
# Python, so collation never changes the order. Each describes one kind of schema object.
_CATALOG = {
    "sqlite": (
        # The CREATE statements hold columns, types, nullability, defaults, checks, keys and
        # foreign keys; every index has its row (implicit ones with a NULL sql).
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'",
    ),
    "postgresql": (
        "SELECT table_name, column_name, ordinal_position, data_type, udt_name,"
        " character_maximum_length, numeric_precision, numeric_scale, datetime_precision,"
        " is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema()",
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
        "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = current_schema()",
        "SELECT t.typname, e.enumlabel, e.enumsortorder FROM pg_type t"
        " JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace"
        " WHERE n.nspname = current_schema()",
    ),
    "mysql": (
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE,"
        " COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART"
        " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.ORDINAL_POSITION,"
        " k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE"
        " FROM information_schema.KEY_COLUMN_USAGE k"
        " LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r"
        " ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME"
        " AND r.TABLE_NAME = k.TABLE_NAME WHERE k.TABLE_SCHEMA = DATABASE()",
        # Every column of the view, whatever the server version names them.
        "SELECT * FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    ),
}


def code_fingerprint() -> str | None:
    """A hash of the code that defines the main schema, or None when it cannot be known."""
    if getattr(sys, "frozen", False):
        bundled = ROOT / BUNDLED_CODE_FINGERPRINT
        return bundled.read_text(encoding="utf-8").strip() if bundled.is_file() else None
    return hash_schema_code(ROOT)


def hash_schema_code(root: Path) -> str:
    """Hash services/db/*.py (models, PyDAL tables and types, the parity check) and alembic/.

    Generic on purpose: a change to any of them, even one that cannot change the schema,
    only costs one full check at the next start.
    """
    files = [
        *sorted((root / "services" / "db").glob("*.py")),
        root / "alembic" / "env.py",
        *sorted((root / "alembic" / "versions").glob("*.py")),
    ]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def live_fingerprint(db) -> str:
    """A hash of the live schema as the database's catalog describes it."""
    family = _family(db)
    digest = hashlib.sha256(family.encode())
    for query in _CATALOG[family]:
        rows = sorted(
            tuple("" if v is None else str(v) for v in row) for row in db.executesql(query)
        )
        digest.update(json.dumps([query, rows]).encode())
    return digest.hexdigest()


def _family(db) -> str:
    engine = db._adapter.dbengine
    return {"postgres": "postgresql", "sqlite": "sqlite"}.get(engine, "mysql")


def _read_record(data_dir: Path) -> dict:
    try:
        record = json.loads((data_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and record.get("format") == FORMAT else {}


def fast_revision(data_dir: Path, target: DatabaseTarget) -> str | None:
    """The revision in place when code, revision and live schema are as last fully checked.

    None means "run the full check": nothing recorded, another database, changed code, a
    changed schema, a missing database, or any error while looking.
    """
    record = _read_record(data_dir)
    code = code_fingerprint()
    if not record or code is None or record.get("code") != code:
        return None
    if record.get("database") != target.render():
        return None
    if target.sqlite_path is not None and not target.sqlite_path.is_file():
        return None  # PyDAL would create an empty file; the full path migrates from empty
    try:
        db = open_dal(target, define=False)
    except Exception:  # noqa: BLE001 - the full check meets the same error and reports it
        return None
    try:
        if live_fingerprint(db) != record.get("schema"):
            return None
        # The fingerprint matched a schema that had alembic_version, so the table is there.
        rows = db.executesql("SELECT version_num FROM alembic_version")
        revision = rows[0][0] if len(rows) == 1 else None
        return revision if revision == record.get("revision") else None
    except Exception:  # noqa: BLE001 - any doubt means the full check, which reports properly
        return None
    finally:
        close_dal(db)


def record(data_dir: Path, target: DatabaseTarget, revision: str) -> None:
    """Remember the state a full check just passed (written atomically)."""
    code = code_fingerprint()
    if code is None:
        return
    db = open_dal(target, define=False)
    try:
        schema = live_fingerprint(db)
    finally:
        close_dal(db)
    data = {
        "format": FORMAT,
        "database": target.render(),
        "code": code,
        "revision": revision,
        "schema": schema,
    }
    path = data_dir / RECORD_FILE
    partial = path.with_suffix(".tmp")
    try:
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        # Only the next start's speed depends on it (a full disk, say): it checks fully again.
        log.warning("could not record the schema check in %s: %s", path, exc)
        forget(data_dir)


def forget(data_dir: Path) -> None:
    """Drop the record, so the next start runs the full check."""
    try:
        (data_dir / RECORD_FILE).unlink(missing_ok=True)
    except OSError as exc:  # a stale record still only matches the state it was made for
        log.warning("could not remove %s: %s", data_dir / RECORD_FILE, exc)
