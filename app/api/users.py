"""Users: own account, sign-up, and account management for superusers."""

from __future__ import annotations

from app.api import BEARER, BODY, PROTECTED, blueprint, errors
from app.auth import current_superuser, current_token, current_user
from app.db import get_db, get_handles
from app.http import respond
from app.lazy import LazyModule
from services import users
from services.errors import Forbidden, NotFound
from services.schemas import (
    Message,
    PageQuery,
    UpdatePassword,
    UserCreate,
    UserIdPath,
    UserPublic,
    UserRegister,
    UsersPublic,
    UserUpdate,
    UserUpdateMe,
)

bp = blueprint("users", secured=False)
owners = LazyModule("services.appdb.owners")

# ``null`` for a field that cannot be empty means "leave it as it is": the document marks these
# fields optional, as the FastAPI template does, and writing NULL into the NOT NULL column was
# a 500.
_NOT_NULL = frozenset({"email", "is_active", "is_superuser", "password"})


def _changes(body) -> dict:
    return {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if v is not None or k not in _NOT_NULL
    }


@bp.get("/", security=BEARER, responses={200: UsersPublic, **errors(*PROTECTED)})
def read_users(query: PageQuery):
    """List users (superusers only), newest first."""
    current_superuser()
    rows, count = users.list_users(db=get_db(), skip=query.skip, limit=query.limit)
    return respond(users.page_public(rows, count))


@bp.post("/", security=BEARER, responses={200: UserPublic, **errors(400, *PROTECTED, *BODY)})
def create_user(body: UserCreate):
    """Create a user (superusers only)."""
    current_superuser()
    return respond(users.to_public(users.create_user(db=get_db(), user_create=body)))


@bp.get("/me", security=BEARER, responses={200: UserPublic, **errors(400, *PROTECTED)})
def read_user_me():
    """The current user."""
    return respond(users.to_public(current_user()))


@bp.patch(
    "/me", security=BEARER, responses={200: UserPublic, **errors(400, 409, *PROTECTED, *BODY)}
)
def update_user_me(body: UserUpdateMe):
    """Change one's own name or email."""
    user = current_user()
    changes = _changes(body)
    row = users.update_user(db=get_db(), user_id=user.id, changes=changes)
    return respond(users.to_public(row))


@bp.patch(
    "/me/password", security=BEARER, responses={200: Message, **errors(400, *PROTECTED, *BODY)}
)
def update_password_me(body: UpdatePassword):
    """Change one's own password; every other token of the user is revoked, this one kept."""
    user = current_user()
    claims = current_token()
    users.change_password(
        db=get_db(),
        user_id=user.id,
        current=body.current_password,
        new=body.new_password,
        keep_token=claims["jti"] if claims else None,
    )
    return respond(Message(message="Password updated successfully"))


@bp.delete("/me", security=BEARER, responses={200: Message, **errors(400, *PROTECTED)})
def delete_user_me():
    """Delete one's own account (not allowed for superusers)."""
    user = current_user()
    if user.is_superuser:
        raise Forbidden("Super users are not allowed to delete themselves")
    owners.delete_user(db=get_db(), handles=get_handles(), user_id=user.id, acting_user_id=user.id)
    return respond(Message(message="User deleted successfully"))


@bp.post("/signup", responses={200: UserPublic, **errors(400, 403, *BODY)})
def register_user(body: UserRegister):
    """Self sign-up; only while auth is on (otherwise everyone is the local superuser)."""
    from flask import current_app

    if not current_app.extensions["auth_required"]:
        raise Forbidden("Open user registration is forbidden on this server")
    return respond(users.to_public(users.create_user(db=get_db(), user_create=body)))


@bp.get("/<user_id>", security=BEARER, responses={200: UserPublic, **errors(400, *PROTECTED)})
def read_user_by_id(path: UserIdPath):
    """One user: oneself, or anyone for a superuser."""
    user = current_user()
    if path.user_id == user.id:
        return respond(users.to_public(user))
    if not user.is_superuser:
        raise Forbidden("The user doesn't have enough privileges")
    found = users.get_user(db=get_db(), user_id=path.user_id)
    if found is None:
        raise NotFound("User not found")
    return respond(users.to_public(found))


@bp.patch(
    "/<user_id>",
    security=BEARER,
    responses={200: UserPublic, **errors(400, 409, *PROTECTED, *BODY)},
)
def update_user(path: UserIdPath, body: UserUpdate):
    """Change a user (superusers only)."""
    current_superuser()
    changes = _changes(body)
    row = users.update_user(db=get_db(), user_id=path.user_id, changes=changes)
    return respond(users.to_public(row))


@bp.delete("/<user_id>", security=BEARER, responses={200: Message, **errors(400, *PROTECTED)})
def delete_user(path: UserIdPath):
    """Delete a user and their items (superusers only)."""
    acting = current_superuser()
    owners.delete_user(
        db=get_db(), handles=get_handles(), user_id=path.user_id, acting_user_id=acting.id
    )
    return respond(Message(message="User deleted successfully"))
