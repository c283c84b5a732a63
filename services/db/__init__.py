"""The dual-layer core: SQLAlchemy/Alembic own the schema, PyDAL serves every row query."""
