"""Users: accounts, authentication and the default local superuser. Rows go through PyDAL."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from pydal import DAL
from pydal.objects import Row

from services import security
from services.db import feed
from services.db.statements import is_integrity_error, row_dict
from services.errors import Conflict, Forbidden, Invalid, NotFound
from services.items import FEED_TABLE
from services.schemas import UserCreate, UserPublic, UserRegister, UsersPublic
from services.timeutil import utcnow

PUBLIC_FIELDS = ("id", "email", "is_active", "is_superuser", "full_name", "created_at")
AUTH_FIELDS = (*PUBLIC_FIELDS, "hashed_password", "token_generation", "kept_token")
EMAIL_TAKEN = "The user with this email already exists in the system."


def to_public(row: Row) -> UserPublic:
    """The API view of a user row."""
    return UserPublic.model_validate(row_dict(row, PUBLIC_FIELDS))


def page_public(rows: list[Row], count: int) -> UsersPublic:
    """The API view of a page of users."""
    return UsersPublic(data=[to_public(r) for r in rows], count=count)


def _fields(db: DAL, names: tuple[str, ...]) -> list:
    return [db.user[name] for name in names]


def get_user(*, db: DAL, user_id: uuid.UUID | str, auth: bool = False) -> Row | None:
    """One user by id, or None."""
    rows = db(db.user.id == user_id).select(*_fields(db, AUTH_FIELDS if auth else PUBLIC_FIELDS))
    return rows.first()


def email_keys(email: str) -> list[str]:
    """The forms user.email_key (the database's lower(email)) may take for ``email``."""
    # SQLite's lower() folds ASCII letters only, PostgreSQL's and MariaDB's fold all of them:
    # look for both spellings so an address with non-ASCII capitals is found on every backend.
    ascii_only = "".join(c.lower() if c.isascii() else c for c in email)
    return sorted({email.lower(), ascii_only})


def get_user_by_email(*, db: DAL, email: str) -> Row | None:
    """One user by email, ignoring case, with the fields authentication needs."""
    query = db.user.email_key.belongs(email_keys(email))
    return db(query).select(*_fields(db, AUTH_FIELDS)).first()


def list_users(*, db: DAL, skip: int, limit: int) -> tuple[list[Row], int]:
    """A page of users, newest first, and the total count (two queries)."""
    count = db(db.user).count()
    rows = db(db.user).select(
        *_fields(db, PUBLIC_FIELDS),
        orderby=~db.user.created_at | db.user.id,
        limitby=(skip, skip + limit),
    )
    return list(rows), count


def _insert(db: DAL, values: dict[str, Any]) -> uuid.UUID:
    try:
        return db.user.insert(**values)["id"]
    except Exception as exc:
        if is_integrity_error(exc):  # the same email, in any case, was taken meanwhile
            raise Invalid(EMAIL_TAKEN) from None
        raise


def create_user(*, db: DAL, user_create: UserCreate | UserRegister) -> Row:
    """Create an account; the email, ignoring case, must be free (a 400, as in the template)."""
    if get_user_by_email(db=db, email=user_create.email) is not None:
        raise Invalid(EMAIL_TAKEN)
    values = user_create.model_dump(exclude={"password"})
    values["hashed_password"] = security.hash_password(user_create.password)
    user_id = _insert(db, values)
    return get_user(db=db, user_id=user_id)


def update_user(
    *, db: DAL, user_id: uuid.UUID, changes: dict[str, Any], keep_token: str | None = None
) -> Row:
    """Apply ``changes`` (already validated); a new password revokes the user's tokens.

    ``keep_token`` (a token id) is the one token that survives a new password.
    """
    if get_user(db=db, user_id=user_id) is None:
        raise NotFound("The user with this id does not exist in the system")
    values = dict(changes)
    if values.get("email") is not None:
        other = get_user_by_email(db=db, email=values["email"])
        if other is not None and other.id != user_id:
            raise Conflict("User with this email already exists")
    password = values.pop("password", None)
    if password is not None:
        values["hashed_password"] = security.hash_password(password)
        values["token_generation"] = db.user.token_generation + 1
        values["kept_token"] = keep_token
    if values:
        try:
            db(db.user.id == user_id).update(**values)
        except Exception as exc:
            if is_integrity_error(exc):
                raise Conflict("User with this email already exists") from None
            raise
    return get_user(db=db, user_id=user_id)


def change_password(
    *, db: DAL, user_id: uuid.UUID, current: str, new: str, keep_token: str | None = None
) -> None:
    """Change one's own password after checking the current one.

    Every token of the user is revoked except ``keep_token``, the one that made the change.
    """
    user = get_user(db=db, user_id=user_id, auth=True)
    if user is None:
        raise NotFound("User not found")
    if not security.verify_password(current, user.hashed_password):
        raise Invalid("Incorrect password")
    if current == new:
        raise Invalid("New password cannot be the same as the current one")
    update_user(db=db, user_id=user_id, changes={"password": new}, keep_token=keep_token)


def delete_user(*, db: DAL, user_id: uuid.UUID, acting_user_id: uuid.UUID | None) -> None:
    """Delete an account and (by cascade) its items; nobody deletes themselves as superuser
    (``acting_user_id`` None: the service itself, finishing a recorded deletion)."""
    user = get_user(db=db, user_id=user_id)
    if user is None:
        raise NotFound("User not found")
    if user.is_superuser and user_id == acting_user_id:
        raise Forbidden("Super users are not allowed to delete themselves")
    # The cascade deletes the user's items: their feed entries become tombstones first.
    feed.bury(db, [FEED_TABLE], owner_id=user_id)
    db(db.user.id == user_id).delete()


def authenticate(*, db: DAL, email: str, password: str) -> Row | None:
    """The user if the password matches; the same work is done whether or not they exist."""
    user = get_user_by_email(db=db, email=email)
    # Verify even when the user does not exist, so the answer takes the same time.
    ok = security.verify_password(password, user.hashed_password if user else None)
    return user if ok and user is not None else None


def ensure_default_superuser(*, db: DAL, email: str, password: str | None) -> uuid.UUID:
    """The local superuser every request acts as while auth is off; created on first start."""
    user = get_user_by_email(db=db, email=email)
    if user is not None:
        return user.id
    values = {
        "email": email,
        "full_name": "Local superuser",
        "is_superuser": True,
        "is_active": True,
        # Without a configured password the account cannot be logged into.
        "hashed_password": security.hash_password(password or secrets.token_urlsafe(32)),
    }
    try:
        user_id = db.user.insert(**values)["id"]
        db.commit()
        return user_id
    except Exception as exc:
        db.rollback()
        if is_integrity_error(exc):  # another process created it first
            user = get_user_by_email(db=db, email=email)
            if user is not None:
                return user.id
        raise


def revoke_token(*, db: DAL, jti: str, user_id: uuid.UUID, expires_at: datetime) -> None:
    """Revoke one token (logout) until it expires; forget already-expired revocations."""
    db(db.revoked_token.expires_at < utcnow()).delete()
    if db(db.revoked_token.jti == jti).isempty():
        db.revoked_token.insert(jti=jti, user_id=user_id, expires_at=expires_at)


def token_is_current(*, user: Row, generation: int, jti: str) -> bool:
    """True when a token of ``generation`` still stands for ``user`` after password changes."""
    return generation == user.token_generation or jti == user.kept_token


def token_is_revoked(*, db: DAL, jti: str) -> bool:
    """True when logout revoked this token."""
    return not db(db.revoked_token.jti == jti).isempty()
