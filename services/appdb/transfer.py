"""Export an app database (JSON bundle, SQLite copy, CSV zip) and import one as a new model.

Exports read one consistent snapshot and stream it in chunks of rows, so memory stays bounded
whatever the size. An import is validated in full before anything is written, then built in a
staging database nobody can see (an SQLite file or a PostgreSQL schema under a private name)
that becomes the model's database only as the model's row commits: a killed import leaves a
staging database whose owner is gone, which the next import (or ``cleanup``) removes. The
staging owner holds a lock (a file lock, or a PostgreSQL advisory lock) that dies with it.
MariaDB/MySQL DDL cannot be rolled back, so there the import builds in place and drops what it
made on failure (a kill -9 can leave a database that ``cleanup`` reports).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydal import DAL
from pydantic import ValidationError

from services.appdb import catalog, rows, store
from services.appdb import values as vals
from services.appdb.definition import Definition, ModelIn, validate_definition
from services.appdb.schema import SCHEMA_RECORD
from services.config import Settings
from services.db import feed
from services.db.dal import close_dal, open_dal
from services.db.maintenance import checkpoint_sqlite
from services.db.urls import sqlite_target
from services.errors import Conflict, Invalid, Problems
from services.timeutil import utcnow

BUNDLE_FORMAT = "app-database-bundle"
BUNDLE_VERSION = 1
CHUNK_ROWS = 500
STAGING_PREFIX = "imp_"  # PostgreSQL staging schemas; app schemas start with app_/apph_
STAGING_GLOB = ".import-*.db"
META_TABLE = "sync_export_meta"  # in an SQLite export: the model's id, name and version
FORMATS = ("json", "sqlite", "csv")
MAX_IMPORT_ROWS = 1_000_000


# --------------------------------------------------------------------------- reading rows


@contextmanager
def snapshot(app_db: store.AppDatabase) -> Iterator[DAL]:
    """A DAL on the model's database inside one read transaction: every read sees one state."""
    db = store.open_rows_dal(app_db)
    try:
        db.commit()
        if app_db.family == "sqlite":
            db.executesql("BEGIN")
        elif app_db.family == "postgresql":
            db.executesql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            db.executesql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            db.executesql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        yield db
    finally:
        with suppress(Exception):
            db.rollback()
        close_dal(db)


def iter_rows(db: DAL, definition: Definition, entity: str) -> Iterator[list[dict[str, Any]]]:
    """The entity's rows as the API shows them (links included), in chunks, ordered by id."""
    plan = vals.entity_plan(definition, entity)
    table = vals.table_of(db, entity)
    fields = vals.row_fields(table, plan)
    last: Any = None
    while True:
        query = table.id != None if last is None else table.id > last  # noqa: E711
        chunk = db(query).select(*fields, orderby=table.id, limitby=(0, CHUNK_ROWS))
        if not chunk:
            return
        last = chunk[-1].id
        out = [vals.row_out(r, plan) for r in chunk]
        vals.attach_links(db, plan, out)
        yield out


def model_meta(*, model_id: str, name: str, version: int, definition: Definition) -> dict:
    """The model part of a bundle."""
    return {
        "id": model_id,
        "name": name,
        "version": version,
        "definition": definition.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


# --------------------------------------------------------------------------- exports


def export_json(app_db: store.AppDatabase, *, meta: dict) -> Iterator[bytes]:
    """The bundle as JSON text, in chunks: the model, then every entity's rows."""
    head = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "model": meta}
    with snapshot(app_db) as db:
        yield json.dumps(head)[:-1].encode() + b', "entities": {'
        for i, entity in enumerate(app_db.definition.entities):
            yield (", " if i else "").encode() + json.dumps(entity.name).encode() + b": ["
            first = True
            for chunk in iter_rows(db, app_db.definition, entity.name):
                text = ", ".join(json.dumps(r, ensure_ascii=False) for r in chunk)
                yield ((", " if not first else "") + text).encode()
                first = False
            yield b"]"
        yield b"}}"


class _Sink:
    """A write-only stream whose bytes are taken out as they come (zipfile streams into it)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush."""

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_header(definition: Definition, entity: str) -> list[str]:
    """One column per field: system columns, fields, then ManyToMany lists (as JSON)."""
    plan = vals.entity_plan(definition, entity)
    return [*vals.SYSTEM_FIELDS, *plan.columns, *plan.links]


def export_csv_zip(app_db: store.AppDatabase) -> Iterator[bytes]:
    """A zip of one CSV per entity (``<entity>.csv``), streamed as it is written."""
    sink = _Sink()
    with snapshot(app_db) as db, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for entity in app_db.definition.entities:
            header = csv_header(app_db.definition, entity.name)
            with archive.open(f"{entity.name}.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(header)
                for chunk in iter_rows(db, app_db.definition, entity.name):
                    writer.writerows([_cell(r[k]) for k in header] for r in chunk)
                    text.flush()
                    yield sink.take()
                text.flush()
                text.detach()
            yield sink.take()
    yield sink.take()


def export_sqlite(app_db: store.AppDatabase, *, meta: dict, destination: Path) -> Path:
    """A consistent SQLite copy of the model's database at ``destination``, with its meta."""
    destination = Path(destination)
    if app_db.family == "sqlite":
        # SQLite's online backup copies one consistent state, page by page.
        source = sqlite3.connect(app_db.target.sqlite_path)
        try:
            copy = sqlite3.connect(destination)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
    else:
        copy_db = store.AppDatabase(
            meta["id"], app_db.definition, sqlite_target(destination), None, "sqlite"
        )
        store.create(copy_db, version=meta["version"])
        target = store.open_rows_dal(copy_db)
        try:
            with snapshot(app_db) as db:
                _copy_rows(db, target, app_db.definition)
            target.commit()
        finally:
            close_dal(target)
    _write_meta(destination, meta)
    return destination


def _copy_rows(source: DAL, target: DAL, definition: Definition) -> None:
    # Parents before children; the copy is the same data, so nothing needs checking again.
    for name in rows.entity_order(definition):
        plan = vals.entity_plan(definition, name)
        table = vals.table_of(target, name)
        for chunk in iter_rows(source, definition, name):
            table.bulk_insert([_stored(plan, r) for r in chunk])
    for name in rows.entity_order(definition):
        plan = vals.entity_plan(definition, name)
        for chunk in iter_rows(source, definition, name):
            for r in chunk:
                _insert_links(target, plan, uuid.UUID(r["id"]), r)


def _write_meta(path: Path, meta: dict) -> None:
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
            connection.executemany(
                f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                [(k, json.dumps(meta[k])) for k in ("id", "name", "version")],
            )
        connection.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        connection.close()


# --------------------------------------------------------------------------- bundles in


@dataclass
class Bundle:
    """A validated import: the model and every row, parsed to stored values."""

    model: ModelIn
    version: int
    rows: dict[str, list[dict[str, Any]]]  # per entity: column values incl. system columns
    links: dict[str, list[tuple[uuid.UUID, dict[str, list[uuid.UUID]]]]]


def _invalid(problems: list[dict]) -> Problems:
    return Problems(problems, "invalid bundle")


def _problem(loc: list, msg: str, kind: str = "value_error") -> dict:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _stored(plan: vals.EntityPlan, row: dict) -> dict:
    out = {
        "id": uuid.UUID(row["id"]),
        "created_at": vals._parse_datetime(row["created_at"]),
        "updated_at": vals._parse_datetime(row["updated_at"]),
    }
    for name, column in plan.columns.items():
        value = row.get(name)
        out[name] = None if value is None else vals.coerce_value(column, value)
    return out


def _insert_links(db: DAL, plan: vals.EntityPlan, row_id: uuid.UUID, row: dict) -> None:
    for name, join in plan.links.items():
        ids = row.get(name) or []
        if ids:
            jt = vals.table_of(db, join.name)
            jt.bulk_insert([{"source_id": row_id, "target_id": uuid.UUID(t)} for t in ids])


def parse_bundle(data: Any, *, model_id: str | None = None, name: str | None = None) -> Bundle:
    """Check a bundle in full (model, every row, every reference); raise with every problem."""
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise _invalid([_problem(["format"], f"must be {BUNDLE_FORMAT!r}")])
    if data.get("format_version") != BUNDLE_VERSION:
        raise _invalid([_problem(["format_version"], f"must be {BUNDLE_VERSION}")])
    meta = data.get("model")
    if not isinstance(meta, dict):
        raise _invalid([_problem(["model"], "must be an object", "dict_type")])
    version = meta.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise _invalid([_problem(["model", "version"], "must be a positive integer")])
    try:
        model = ModelIn.model_validate(
            {
                "id": model_id or meta.get("id"),
                "name": name or meta.get("name"),
                "definition": meta.get("definition"),
            }
        )
    except ValidationError as exc:
        raise _invalid(
            [
                _problem(["model", *e["loc"]], e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None
    validate_definition(model.definition)
    return Bundle(model, version, *_parse_rows(model.definition, data.get("entities")))


def _parse_rows(definition: Definition, entities: Any) -> tuple[dict, dict]:
    problems: list[dict] = []
    names = [e.name for e in definition.entities]
    if not isinstance(entities, dict):
        raise _invalid([_problem(["entities"], "must be an object", "dict_type")])
    for extra in set(entities) - set(names):
        problems.append(_problem(["entities", extra], "not an entity of the model", "extra"))
    parsed: dict[str, list[dict]] = {}
    links: dict[str, list] = {}
    ids: dict[str, set[uuid.UUID]] = {}
    total = 0
    for name in names:
        plan = vals.entity_plan(definition, name)
        given = entities.get(name, [])
        if not isinstance(given, list):
            problems.append(_problem(["entities", name], "must be a list", "list_type"))
            continue
        total += len(given)
        if total > MAX_IMPORT_ROWS:
            raise Invalid(f"a bundle holds at most {MAX_IMPORT_ROWS} rows")
        parsed[name], links[name], ids[name] = [], [], set()
        for i, row in enumerate(given):
            loc = ["entities", name, i]
            state = dict(row) if isinstance(row, dict) else row
            system: dict[str, Any] = {}
            if isinstance(state, dict):
                for key in ("created_at", "updated_at"):
                    value = state.pop(key, None)
                    try:
                        system[key] = vals._parse_datetime(value) if value else None
                    except vals.BadValue as bad:
                        problems.append(_problem([*loc, key], bad.msg, bad.kind))
                    if system.get(key) is None:
                        system[key] = None
            row_id, values, row_links, found = rows.parse_state(plan, state, loc, with_state=True)
            problems += [{**p, "loc": ["body", *p["loc"]]} for p in found]
            if found:
                continue
            if row_id in ids[name]:
                problems.append(_problem([*loc, "id"], "this id is given twice", "unique"))
            ids[name].add(row_id)
            now = utcnow()
            values.update(
                id=row_id,
                created_at=system["created_at"] or now,
                updated_at=system["updated_at"] or system["created_at"] or now,
            )
            parsed[name].append(values)
            links[name].append((row_id, row_links))
    if not problems:
        problems = _check_references(definition, parsed, links, ids)
    if problems:
        raise _invalid(problems[:1000])
    return parsed, links


def _check_references(definition: Definition, parsed: dict, links: dict, ids: dict) -> list[dict]:
    problems = []
    for name, values_list in parsed.items():
        plan = vals.entity_plan(definition, name)
        uniques = {c: set() for c, col in plan.columns.items() if col.unique}
        for i, values in enumerate(values_list):
            loc = ["entities", name, i]
            for column_name, column in plan.columns.items():
                value = values.get(column_name)
                if value is None:
                    continue
                if column.type == "Reference" and value not in ids[column.target]:
                    problems.append(
                        _problem(
                            [*loc, column_name],
                            f"no {column.target} with id {value} in the bundle",
                            "reference_not_found",
                        )
                    )
                if column_name in uniques:
                    if value in uniques[column_name]:
                        problems.append(
                            _problem([*loc, column_name], "this value is given twice", "unique")
                        )
                    uniques[column_name].add(value)
        for i, (_, row_links) in enumerate(links[name]):
            for rel, targets in row_links.items():
                wanted = plan.links[rel].target
                for k, target in enumerate(targets):
                    if target not in ids[wanted]:
                        problems.append(
                            _problem(
                                ["entities", name, i, rel, k],
                                f"no {wanted} with id {target} in the bundle",
                                "reference_not_found",
                            )
                        )
    return problems


def read_sqlite_bundle(path: Path, *, model_id: str | None = None, name: str | None = None):
    """A bundle read from an SQLite export (or any app database file)."""
    try:
        connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        try:
            meta = dict(connection.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
            meta = {k: json.loads(v) for k, v in meta.items()}
            record = connection.execute(
                f"SELECT version, definition FROM {SCHEMA_RECORD} WHERE id = 1"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"not an SQLite export of an app database: {exc}") from None
    if record is None:
        raise Invalid("not an SQLite export of an app database: it records no definition")
    try:
        definition = Definition.model_validate_json(record[1])
    except ValidationError:
        raise Invalid("the file's recorded definition is not valid") from None
    source = store.AppDatabase(
        meta.get("id", "import"), definition, sqlite_target(path), None, "sqlite"
    )
    entities: dict[str, list] = {}
    with snapshot(source) as db:
        for entity in definition.entities:
            entities[entity.name] = [
                r for chunk in iter_rows(db, definition, entity.name) for r in chunk
            ]
    data = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "model": {
            "id": meta.get("id"),
            "name": meta.get("name"),
            "version": record[0],
            "definition": json.loads(record[1]),
        },
        "entities": entities,
    }
    return parse_bundle(data, model_id=model_id, name=name)


# --------------------------------------------------------------------------- importing


def _row_order(plan: vals.EntityPlan, values_list: list[dict]) -> list[dict]:
    """Rows with a required self-reference after the row they name."""
    selfish = [c for c, col in plan.columns.items() if col.required and col.target == plan.name]
    if not selfish:
        return values_list
    by_id = {v["id"]: v for v in values_list}
    placed: set[uuid.UUID] = set()
    out: list[dict] = []
    for start in values_list:
        stack = [start]
        while stack:
            row = stack[-1]
            if row["id"] in placed:
                stack.pop()
                continue
            parents = [
                by_id[row[c]]
                for c in selfish
                if row[c] != row["id"] and row[c] not in placed and row[c] in by_id
            ]
            parents = [p for p in parents if p not in stack]
            if parents:
                stack.extend(parents)
                continue
            placed.add(row["id"])
            out.append(row)
            stack.pop()
    return out


def fill(db: DAL, bundle: Bundle) -> None:
    """Write the bundle's rows into an empty database of its model; no commit."""
    definition = bundle.model.definition
    later: list[tuple[str, uuid.UUID, dict]] = []
    changes = []
    version = feed.local_version()
    for name in rows.entity_order(definition):
        plan = vals.entity_plan(definition, name)
        table = vals.table_of(db, name)
        deferred = [
            c for c, col in plan.columns.items() if col.type == "Reference" and not col.required
        ]
        batch = []
        for values in _row_order(plan, bundle.rows[name]):
            row = dict(values)
            refs = {c: row[c] for c in deferred if row.get(c) is not None}
            for c in refs:
                row[c] = None
            if refs:
                later.append((name, row["id"], {**refs, "updated_at": row["updated_at"]}))
            batch.append(row)
            changes.append(feed.Change(name, row["id"], False, version, None, False))
            if len(batch) >= CHUNK_ROWS or plan.columns and _self_required(plan):
                table.bulk_insert(batch)
                batch = []
        if batch:
            table.bulk_insert(batch)
    for name, row_id, refs in later:
        table = vals.table_of(db, name)
        db(table.id == row_id).update(**refs)
    for name in rows.entity_order(definition):
        plan = vals.entity_plan(definition, name)
        for row_id, row_links in bundle.links[name]:
            for rel, ids in row_links.items():
                if ids:
                    jt = vals.table_of(db, plan.links[rel].name)
                    jt.bulk_insert([{"source_id": row_id, "target_id": t} for t in ids])
    for start in range(0, len(changes), CHUNK_ROWS):
        feed.record(db, changes[start : start + CHUNK_ROWS])


def _self_required(plan: vals.EntityPlan) -> bool:
    # A row naming another row of its own table must be inserted after it, one at a time.
    return any(col.required and col.target == plan.name for col in plan.columns.values())


@dataclass
class Staging:
    """Where an import is built before it becomes the model's database."""

    app_db: store.AppDatabase
    final: store.AppDatabase
    promoted: bool = False


@contextmanager
def _staging_lock_file(path: Path) -> Iterator[Any]:
    handle = open(path, "a+")  # noqa: SIM115 - held for the import's whole life
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield handle
    finally:
        handle.close()


def _advisory_key(name: str) -> int:
    return int(name.removeprefix(STAGING_PREFIX)[:15], 16)


@contextmanager
def _stage(final: store.AppDatabase, settings: Settings) -> Iterator[Staging]:
    token = uuid.uuid4().hex[:15]
    if final.family == "sqlite":
        apps = final.target.sqlite_path.parent
        apps.mkdir(parents=True, exist_ok=True)
        path = apps / f".import-{token}.db"
        with _staging_lock_file(apps / f".import-{token}.lock"):
            staged = replace(final, target=sqlite_target(path))
            staging = Staging(staged, final)
            try:
                yield staging
            finally:
                store.drop(staged)  # gone already once it became the model's database
                (apps / f".import-{token}.lock").unlink(missing_ok=True)
        return
    if final.family == "postgresql":
        name = f"{STAGING_PREFIX}{token}"
        # A session advisory lock marks the staging schema as in use; it dies with the session.
        holder = open_dal(final.target, define=False)
        try:
            holder.executesql("SELECT pg_advisory_lock(%s)", placeholders=[_advisory_key(name)])
            holder.commit()
            staged = replace(final, schema=name)
            staging = Staging(staged, final)
            try:
                yield staging
            finally:
                if not staging.promoted:
                    # Once renamed, the rename waits for the caller's commit: dropping the old
                    # name from here would wait for it too, forever.
                    store.drop(staged)
        finally:
            close_dal(holder)
        return
    yield Staging(final, final)  # MySQL: in place (its DDL cannot be rolled back)


def sweep(settings: Settings) -> list[str]:
    """Remove staging databases of imports whose process is gone; returns what it removed."""
    removed: list[str] = []
    if settings.database.family == "sqlite":
        apps = Path(settings.data_dir) / store.APPS_FOLDER
        for path in sorted(apps.glob(STAGING_GLOB)) if apps.exists() else []:
            lock = path.with_suffix(".lock")
            with open(lock, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live import
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
            removed.append(str(path))
    elif settings.database.family == "postgresql":
        db = open_dal(settings.database, define=False)
        try:
            names = db.executesql(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                placeholders=[f"{STAGING_PREFIX}%"],
            )
            db.commit()
            for (name,) in names:
                key = _advisory_key(name)
                got = db.executesql("SELECT pg_try_advisory_lock(%s)", placeholders=[key])
                if not got[0][0]:
                    db.commit()
                    continue  # a live import
                db.executesql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                db.executesql("SELECT pg_advisory_unlock(%s)", placeholders=[key])
                db.commit()
                removed.append(name)
        finally:
            close_dal(db)
    return removed


def import_bundle(*, db: DAL, settings: Settings, owner_id: uuid.UUID, bundle: Bundle) -> None:
    """Create the bundle's model and database with every row, ids kept; all or nothing.

    ``db`` is the main database's DAL: the model's row is inserted there and becomes visible
    with the caller's commit, which must follow at once.
    """
    model = bundle.model
    if not db(db.app_model.id.lower() == model.id.lower()).isempty():
        raise Conflict("A model with this id already exists")
    catalog.check_model_quota(db=db, settings=settings, owner_id=owner_id)
    sweep(settings)
    final = store.locate(
        main=settings.database,
        data_dir=settings.data_dir,
        model_id=model.id,
        definition=model.definition,
    )
    with _stage(final, settings) as staging:
        store.create(staging.app_db, version=bundle.version)
        try:
            target = store.open_rows_dal(staging.app_db)
            try:
                fill(target, bundle)
                target.commit()
            finally:
                close_dal(target)
        except BaseException:
            if staging.app_db is final:
                with suppress(Exception):
                    store.drop(final)
            raise
        db.app_model.insert(
            id=model.id,
            id_key=model.id.lower(),  # unique: the database settles a race of case variants
            name=model.name,
            owner_id=owner_id,
            definition=model.definition.model_dump(by_alias=True, exclude_none=True),
            version=bundle.version,
        )
        _promote(db, staging)


def _promote(db: DAL, staging: Staging) -> None:
    """Make the staging database the model's; the caller's commit of ``db`` follows."""
    staged, final = staging.app_db, staging.final
    if staged is final:
        return
    if final.family == "postgresql":
        # The main database holds the app schemas: the rename commits with the model's row.
        db.executesql(f'DROP SCHEMA IF EXISTS "{final.schema}" CASCADE')
        db.executesql(f'ALTER SCHEMA "{staged.schema}" RENAME TO "{final.schema}"')
        staging.promoted = True
        return
    checkpoint_sqlite(staged.target)
    store.drop(final)  # a file no model owns (a model deleted by hand, a lost import)
    os.replace(staged.target.sqlite_path, final.target.sqlite_path)
    staging.promoted = True


def import_model(
    *,
    db: DAL,
    settings: Settings,
    owner_id: uuid.UUID,
    data: Any = None,
    sqlite_path: Path | None = None,
    model_id: str | None = None,
    name: str | None = None,
) -> Any:
    """Import a JSON bundle (``data``) or an SQLite export (``sqlite_path``) as a new model;
    returns the model's row (visible once the caller commits ``db``)."""
    from services.appdb import catalog

    if sqlite_path is not None:
        bundle = read_sqlite_bundle(sqlite_path, model_id=model_id, name=name)
    else:
        bundle = parse_bundle(data, model_id=model_id, name=name)
    import_bundle(db=db, settings=settings, owner_id=owner_id, bundle=bundle)
    return catalog.get_model(db=db, model_id=bundle.model.id, owner_id=None)


def export_filename(model_id: str, fmt: str) -> str:
    """The file name an export is offered under."""
    return f"{model_id}.{ {'json': 'json', 'sqlite': 'db', 'csv': 'zip'}[fmt] }"


MEDIA_TYPES = {
    "json": "application/json",
    "sqlite": "application/vnd.sqlite3",
    "csv": "application/zip",
}


def export_stream(
    app_db: store.AppDatabase, *, meta: dict, fmt: str, scratch: Path
) -> Iterator[bytes]:
    """The export in ``fmt`` as chunks of bytes (an SQLite copy is made in ``scratch`` first)."""
    if fmt == "json":
        return export_json(app_db, meta=meta)
    if fmt == "csv":
        return export_csv_zip(app_db)
    scratch.mkdir(parents=True, exist_ok=True)
    path = export_sqlite(app_db, meta=meta, destination=scratch / f"export-{uuid.uuid4().hex}.db")
    return _file_chunks(path)


def _file_chunks(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


SQLITE_TYPES = frozenset(
    {"application/vnd.sqlite3", "application/x-sqlite3", "application/octet-stream"}
)
