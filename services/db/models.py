"""SQLAlchemy 2.x models: the one definition of the main database's schema.

Used for DDL, migrations and the parity check only; rows go through PyDAL.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Uuid,
    false,
    literal_column,
    text,
    true,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

from services.timeutil import utcnow

# Named constraints let Alembic's batch mode on SQLite rebuild tables and drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MySQL/MariaDB DATETIME drops fractions unless told to keep six digits.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _bool(name: str) -> Boolean:
    # The CHECK makes a stray 'T'/'F' (PyDAL's default literals) fail loudly instead of misreading.
    return Boolean(create_constraint=True, name=name)


class _Lower(FunctionElement):
    """``lower(x)``, spelled ``lcase(x)`` on MySQL/MariaDB."""

    # MariaDB reports a generated column's lower() back as lcase(): compiled the same way, the
    # model and the migrated database compare equal in the parity check.
    name = "lower"
    inherit_cache = True


@compiles(_Lower)
def _lower(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_Lower, "mysql")
@compiles(_Lower, "mariadb")
def _lcase(element, compiler, **kw):
    return f"lcase({compiler.process(element.clauses, **kw)})"


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """created_at / updated_at, naive UTC with microseconds."""

    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, onupdate=utcnow, nullable=False
    )


class User(TimestampMixin, Base):
    """An account; the default local superuser is one of these."""

    __tablename__ = "user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True, nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(
        _bool("is_active"), default=True, server_default=true(), nullable=False
    )
    is_superuser: Mapped[bool] = mapped_column(
        _bool("is_superuser"), default=False, server_default=false(), nullable=False
    )
    # Bumped on a password change: tokens carrying an older generation are revoked.
    token_generation: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0"), nullable=False
    )
    # The token that made the last password change: it survives the generation bump, so the
    # session that changed the password goes on (the template's frontend keeps its token).
    kept_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Emails are unique ignoring case; the database enforces it on this generated key.
    email_key: Mapped[str | None] = mapped_column(
        String(255),
        Computed(_Lower(literal_column("email")), persisted=True),
        unique=True,
        index=True,
        nullable=True,
    )


class Item(TimestampMixin, Base):
    """A user's item; deleted with its owner."""

    __tablename__ = "item"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), nullable=False
    )

    # Lists are newest first, for everyone (superusers) or per owner (revision 0005).
    __table_args__ = (
        Index("ix_item_created_at", "created_at"),
        Index("ix_item_owner_id_created_at", "owner_id", "created_at"),
    )


class RevokedToken(Base):
    """A token revoked by logout, kept until it would have expired anyway."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True, nullable=False)


class LoginAttempt(Base):
    """Failed logins per account or per client address, shared by every process."""

    __tablename__ = "login_attempt"

    # "account:<email, lower case>" or "client:<address>".
    subject: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0"), nullable=False
    )
    blocked_until: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, nullable=False)


class UserDeletion(Base):
    """An account deletion in progress: finished at the next start if a crash cut it short."""

    __tablename__ = "user_deletion"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    requested_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, nullable=False)


class AppModel(TimestampMixin, Base):
    """A designer's data model definition; its rows live in a database of their own."""

    __tablename__ = "app_model"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The id in lower case, unique: ids that differ only in case would share a file on the
    # case-insensitive file systems of the desktop targets, and a check before the insert
    # could be raced (issue 14).
    id_key: Mapped[str] = mapped_column(String(100), unique=True, index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    definition: Mapped[dict] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(
        Integer, default=1, server_default=text("1"), nullable=False
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
    )
    last_seeded_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class SyncRow(Base):
    """The change feed: one entry per row ever written (live, or a tombstone once deleted).

    ``seq`` is reassigned on every write, so the entries after a client's cursor are exactly the
    rows that changed since; (ts, client_id, op_id) is the version of the write that set the row,
    which decides last-write-wins. The same table lives in every app database.
    """

    __tablename__ = "sync_row"

    tbl: Mapped[str] = mapped_column(String(100), primary_key=True)
    row_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    deleted: Mapped[bool] = mapped_column(
        _bool("deleted"), default=False, server_default=false(), nullable=False
    )
    ts: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    client_id: Mapped[str] = mapped_column(String(100), nullable=False)
    op_id: Mapped[str] = mapped_column(String(100), nullable=False)
    # No foreign key: a deleted owner's tombstones must still reach superusers' clients.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    __table_args__ = (Index("ix_sync_row_owner_id_seq", "owner_id", "seq"),)


class SyncCounter(Base):
    """The feed's sequence counter; updating its row serialises commits in sequence order."""

    __tablename__ = "sync_counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Changes when the feed starts over (a new database, a new schema): old cursors reset.
    epoch: Mapped[str] = mapped_column(String(32), nullable=False)


class SyncOperation(Base):
    """Operation ids already processed, so a retried batch is not applied twice."""

    __tablename__ = "sync_operation"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    op_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(30), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, nullable=False)


SYNC_TABLES = (SyncRow.__table__, SyncCounter.__table__, SyncOperation.__table__)

metadata = Base.metadata
