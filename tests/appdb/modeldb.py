"""The model the app-database tests share, its tables on a fresh database, and checks.

Each test builds the model's tables itself (SQLAlchemy ``create_all`` on a fresh database) and
reads and writes rows through PyDAL with services.appdb.rows and services.appdb.seed; checks
read the database with plain SQL through SQLAlchemy.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.appdb import rows as R
from services.appdb import seed as S
from services.appdb.definition import Definition, validate_definition
from services.appdb.schema import build_metadata, define_pydal, entity_columns, join_tables
from services.db.dal import close_dal, open_dal
from services.db.engine import make_engine

MODEL = {
    "entities": [
        {
            "name": "company",
            "fields": [
                {"name": "name", "type": "String", "required": True, "unique": True},
                {"name": "website", "type": "String"},
                {"name": "ceo", "type": "Reference", "target": "customer"},  # a cycle with employer
            ],
        },
        {
            "name": "customer",
            "fields": [
                {"name": "first_name", "type": "String", "required": True},
                {"name": "last_name", "type": "String"},
                {"name": "email", "type": "String", "required": True, "unique": True},
                {"name": "age", "type": "Integer"},
                {"name": "score", "type": "Float"},
                {"name": "vip", "type": "Boolean"},
                {"name": "tier", "type": "Enum", "values": ["free", "pro", "team"]},
                {"name": "joined_on", "type": "Date"},
                {"name": "referred_by", "type": "Reference", "target": "customer"},
            ],
        },
        {
            "name": "product",
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "sku", "type": "String", "unique": True},
                {"name": "price", "type": "Float"},
                {"name": "tags", "type": "Array"},
                {"name": "specs", "type": "Object"},
            ],
        },
        {
            "name": "purchase",
            "fields": [
                {"name": "placed_at", "type": "DateTime"},
                {"name": "quantity", "type": "Integer"},
                {"name": "note", "type": "Text"},
            ],
        },
        {
            "name": "review",
            "fields": [
                {"name": "rating", "type": "Integer"},
                {"name": "comment", "type": "Text"},
                {"name": "product", "type": "Reference", "target": "product", "required": True},
            ],
        },
    ],
    "relationships": [
        {"type": "OneToMany", "from": "company", "to": "customer", "name": "employer"},
        {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
        {"type": "OneToMany", "from": "customer", "to": "review", "name": "author"},
        {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
        {"type": "ManyToMany", "from": "customer", "to": "customer", "name": "friends"},
    ],
}
ENTITIES = [e["name"] for e in MODEL["entities"]]


def definition_of(doc: dict) -> Definition:
    return validate_definition(Definition.model_validate(doc))


class ModelDB:
    """The model's tables on a fresh database: a PyDAL connection and a SQLAlchemy engine."""

    def __init__(self, target, definition: Definition) -> None:
        self.target, self.definition = target, definition
        self.engine = make_engine(target)
        build_metadata(definition).create_all(self.engine)
        self.db = open_dal(target, define=False)
        define_pydal(self.db, definition, target.family)

    def close(self) -> None:
        close_dal(self.db)
        self.engine.dispose()

    # -- shortcuts
    def create(self, entity: str, **data):
        row = R.create_row(db=self.db, definition=self.definition, entity=entity, data=data)
        self.db.commit()
        return row

    def update(self, entity: str, row_id, **data):
        row = R.update_row(
            db=self.db, definition=self.definition, entity=entity, row_id=row_id, data=data
        )
        self.db.commit()
        return row

    def get(self, entity: str, row_id):
        return R.get_row(db=self.db, definition=self.definition, entity=entity, row_id=row_id)

    def list(self, entity: str, **kwargs):
        kwargs.setdefault("filters", {})
        return R.list_rows(db=self.db, definition=self.definition, entity=entity, **kwargs)

    def seed(self, **kwargs):
        return S.seed(db=self.db, definition=self.definition, **kwargs)

    # -- plain SQL through SQLAlchemy, for checks
    def q(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def scalar(self, sql: str):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()

    def count(self, table: str) -> int:
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(table)}")


def problems_of(exc_info) -> list[tuple]:
    return [(tuple(p["loc"]), p["type"]) for p in exc_info.value.problems]


def all_rows(m: ModelDB, entity: str) -> list[dict]:
    rows, total = m.list(entity, sort="id", limit=1000)
    assert len(rows) == total
    return rows


def check_integrity(m: ModelDB, definition: Definition) -> None:
    """Every reference and join row points at an existing row; unique fields are unique."""
    q = m.q
    for entity in definition.entities:
        for column in entity_columns(definition, entity):
            if column.type == "Reference":
                orphans = m.scalar(
                    f"SELECT COUNT(*) FROM {q(entity.name)} c LEFT JOIN {q(column.target)} p "
                    f"ON c.{q(column.name)} = p.id "
                    f"WHERE c.{q(column.name)} IS NOT NULL AND p.id IS NULL"
                )
                assert orphans == 0, (entity.name, column.name)
            if column.required:
                nulls = m.scalar(
                    f"SELECT COUNT(*) FROM {q(entity.name)} WHERE {q(column.name)} IS NULL"
                )
                assert nulls == 0, (entity.name, column.name)
            if column.unique:
                row = None
                with m.engine.connect() as conn:
                    row = conn.execute(
                        sa.text(
                            f"SELECT COUNT({q(column.name)}), COUNT(DISTINCT {q(column.name)}) "
                            f"FROM {q(entity.name)}"
                        )
                    ).one()
                assert row[0] == row[1], (entity.name, column.name)
            if column.type == "Enum":
                values = {r[column.name] for r in all_rows(m, entity.name)}
                assert values <= {*column.values, None}
    for join in join_tables(definition):
        for end, target in (("source_id", join.source), ("target_id", join.target)):
            orphans = m.scalar(
                f"SELECT COUNT(*) FROM {q(join.name)} j LEFT JOIN {q(target)} p "
                f"ON j.{end} = p.id WHERE p.id IS NULL"
            )
            assert orphans == 0, (join.name, end)
