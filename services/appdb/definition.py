"""Model definitions: the JSON a designer sends, validated strictly before any DDL.

Structure (types, allowed keys, name patterns) is checked by the pydantic models; the rules
that span the document (unique names, references, reserved words, limits) by ``problems()``,
which names each problem by its path in the document.
"""

from __future__ import annotations

import functools
import keyword
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from services.errors import Problems
from services.schemas import MODEL_ID_PATTERN, Schema, Title

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
SYSTEM_COLUMNS = frozenset({"id", "created_at", "updated_at"})
# Set from measurement (bench/bench_memory.py --largest-only, 2 cores, medians of 5 runs):
# the largest definition these allow creates in ~0.2 s, serves its first page (tables defined
# on first use) in ~40 ms and its status in ~10 ms, against issue 14's 1 s / 100 ms targets.
# The cost follows the number of columns: 400 gave a first page of ~80 ms, 640 over 100 ms;
# the old limits (50 x 100 fields, 200 relationships) allowed a create of 11.8 s.
MAX_ENTITIES = 20
MAX_FIELDS = 50  # per entity
MAX_RELATIONSHIPS = 40
MAX_COLUMNS = 300  # fields and OneToMany reference columns over all entities
MAX_ENUM_VALUES = 100
MAX_DEFINITION_BYTES = 256 * 1024
SYSTEM_TABLE_PREFIX = "sync_"  # the change feed's tables in every app database


@functools.cache
def reserved_words() -> frozenset[str]:
    """Names unsafe as a table or column name on some backend, or as a Python attribute."""
    # Read from SQLAlchemy on first use: importing it costs every start ~15 MB otherwise.
    from sqlalchemy.dialects.mysql.reserved_words import (
        RESERVED_WORDS_MARIADB,
        RESERVED_WORDS_MYSQL,
    )
    from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRESQL_RESERVED
    from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer
    from sqlalchemy.sql.compiler import RESERVED_WORDS as ANSI_RESERVED

    return frozenset(
        w.lower()
        for w in (
            *ANSI_RESERVED,
            *POSTGRESQL_RESERVED,
            *RESERVED_WORDS_MARIADB,
            *RESERVED_WORDS_MYSQL,
            *SQLiteIdentifierPreparer.reserved_words,
            *keyword.kwlist,
            *keyword.softkwlist,
        )
    )


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# Display names and enum values are stored in the database: no NUL (a 500 on SQLite otherwise).
DisplayName = Title
EnumValue = Title
FieldType = Literal[
    "String",
    "Text",
    "Integer",
    "Float",
    "Boolean",
    "DateTime",
    "Date",
    "Reference",
    "Array",
    "Object",
    "Enum",
]


class _Strict(Schema):
    # strict: "unique": 0 or "required": "yes" are mistakes, not booleans.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class FieldDef(_Strict):
    """One field of an entity."""

    name: Name
    type: FieldType
    required: bool = False
    unique: bool = False
    values: list[EnumValue] | None = Field(default=None, max_length=MAX_ENUM_VALUES)
    target: Name | None = None


class EntityDef(_Strict):
    """One entity: a table of its own."""

    name: Name
    display_name: DisplayName | None = None
    fields: list[FieldDef] = Field(default_factory=list, max_length=MAX_FIELDS)


class RelationshipDef(_Strict):
    """OneToMany adds a reference column ``name`` to ``to``; ManyToMany adds a join table."""

    type: Literal["OneToMany", "ManyToMany"]
    from_: Name = Field(alias="from")
    to: Name
    name: Name


class Definition(_Strict):
    """A whole data model."""

    entities: list[EntityDef] = Field(min_length=1, max_length=MAX_ENTITIES)
    relationships: list[RelationshipDef] = Field(default_factory=list, max_length=MAX_RELATIONSHIPS)


class ModelIn(_Strict):
    """The body of POST /models/ and PUT /models/{model_id}."""

    id: Annotated[str, StringConstraints(pattern=MODEL_ID_PATTERN)]
    name: DisplayName
    definition: Definition


INVALID_DEFINITION = "invalid model definition"


def _problem(loc: list, msg: str, kind: str = "value_error") -> dict:
    return {"loc": ["definition", *loc], "msg": msg, "type": kind}


def _check_name(name: str, loc: list, what: str) -> list[dict]:
    if name.lower() in reserved_words():
        return [_problem(loc, f"{what} {name!r} is a reserved SQL or Python word", "reserved_word")]
    return []


def join_table_name(rel: RelationshipDef) -> str:
    """The join table of a ManyToMany relationship."""
    return f"{rel.from_}__{rel.name}"


def problems(definition: Definition) -> list[dict]:
    """Every rule the document breaks, each located by its path; empty when it is valid."""
    found: list[dict] = []
    entities = {e.name: e for e in definition.entities}
    seen: dict[str, int] = {}
    for i, entity in enumerate(definition.entities):
        loc = ["entities", i, "name"]
        found += _check_name(entity.name, loc, "entity name")
        if entity.name.lower().startswith(SYSTEM_TABLE_PREFIX):
            found.append(
                _problem(
                    loc,
                    f"entity names starting with {SYSTEM_TABLE_PREFIX!r} are "
                    "reserved for the change feed's tables",
                    "reserved_word",
                )
            )
        if entity.name.lower() in seen:
            found.append(
                _problem(loc, f"entity name {entity.name!r} is used twice (names ignore case)")
            )
        seen[entity.name.lower()] = i
        columns: dict[str, int] = {}
        for j, fld in enumerate(entity.fields):
            floc = ["entities", i, "fields", j]
            found += _check_name(fld.name, [*floc, "name"], "field name")
            if fld.name.lower() in SYSTEM_COLUMNS:
                found.append(_problem([*floc, "name"], f"{fld.name!r} is a system column"))
            if fld.name.lower() in columns:
                found.append(_problem([*floc, "name"], f"field name {fld.name!r} is used twice"))
            columns[fld.name.lower()] = j
            if fld.type == "Enum":
                if not fld.values:
                    found.append(_problem([*floc, "values"], "an Enum needs at least one value"))
                elif len(set(fld.values)) != len(fld.values):
                    found.append(_problem([*floc, "values"], "enum values must be unique"))
            elif fld.values is not None:
                found.append(_problem([*floc, "values"], "only an Enum field takes values"))
            if fld.type == "Reference":
                if fld.target is None:
                    found.append(_problem([*floc, "target"], "a Reference needs a target entity"))
                elif fld.target not in entities:
                    found.append(_problem([*floc, "target"], f"unknown entity {fld.target!r}"))
            elif fld.target is not None:
                found.append(_problem([*floc, "target"], "only a Reference field takes a target"))
            if fld.unique and fld.type in ("Array", "Object", "Text"):
                found.append(_problem([*floc, "unique"], f"a {fld.type} field cannot be unique"))
    table_names = {e.name.lower() for e in definition.entities}
    added: dict[tuple[str, str], int] = {}
    for k, rel in enumerate(definition.relationships):
        rloc = ["relationships", k]
        found += _check_name(rel.name, [*rloc, "name"], "relationship name")
        for end in ("from", "to"):
            target = rel.from_ if end == "from" else rel.to
            if target not in entities:
                found.append(_problem([*rloc, end], f"unknown entity {target!r}"))
        if rel.from_ not in entities or rel.to not in entities:
            continue
        owner = rel.to if rel.type == "OneToMany" else rel.from_
        existing = {f.name.lower() for f in entities[owner].fields} | SYSTEM_COLUMNS
        if rel.name.lower() in existing or (owner, rel.name.lower()) in added:
            found.append(
                _problem([*rloc, "name"], f"{owner} already has a field named {rel.name!r}")
            )
        added[(owner, rel.name.lower())] = k
        if rel.type == "ManyToMany":
            join = join_table_name(rel)
            if join.lower() in table_names or len(join) > 63:
                found.append(
                    _problem([*rloc, "name"], f"join table name {join!r} is taken or too long")
                )
            table_names.add(join.lower())
    return found


def validate_definition(definition: Definition) -> Definition:
    """Raise Problems listing every problem, or return the definition."""
    found = problems(definition)
    columns = sum(len(e.fields) for e in definition.entities) + sum(
        r.type == "OneToMany" for r in definition.relationships
    )
    if columns > MAX_COLUMNS:
        found.append(
            _problem(
                [],
                f"the definition has {columns} columns (fields and OneToMany references over "
                f"all entities); at most {MAX_COLUMNS}",
                "too_many_columns",
            )
        )
    if len(definition.model_dump_json(by_alias=True)) > MAX_DEFINITION_BYTES:
        found.append(_problem([], f"the definition is larger than {MAX_DEFINITION_BYTES} bytes"))
    if found:
        raise Problems(found, INVALID_DEFINITION)
    return definition
