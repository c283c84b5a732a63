"""Request and response models (pydantic v2): one source for validation and the OpenAPI document.

Names follow the FastAPI full-stack template's backend: *Base, *Create, *Update,
*UpdateMe, *Public and *sPublic. Input models of our own contracts forbid unknown fields; those
of the template's endpoints ignore them (TemplateBody). Either way read-only fields (id,
owner_id, hashed_password, is_superuser for non-superusers) can never be set by a client.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

MAX_PAGE = 1000
# A model id: in file names, SQL identifiers and sync scopes; case-insensitively unique.
MODEL_ID_PATTERN = r"^[A-Za-z0-9-]{1,100}$"
MAX_SKIP = 2**31 - 1


def _printable(value: str) -> str:
    # NUL and lone surrogates cannot be stored by every backend; refuse them as input errors.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():
        # Strict UTF-8 refuses exactly the code points U+D800..U+DFFF (a check per character in
        # Python cost more than the rest of validating a sync batch's titles).
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain unpaired surrogate characters") from None
    return value


def _as_utc(value: datetime) -> datetime:
    # Stored datetimes are naive UTC; say so on the wire (RFC 3339 needs an offset).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
# The document says what _printable refuses, so that clients (and fuzzers) generated from it
# do not send a NUL and get a 422 for input the document called valid.
_NO_NUL = Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})


def _text(min_length: int = 0, max_length: int | None = None):
    # Length limits first (on the str), then the printable check.
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_printable),
        _NO_NUL,
    ]


# 254: the longest address email-validator (and RFC 5321's path limit) accepts; a document
# that promised 255 made schema-valid input fail validation.
# email-validator refuses special-use domains (name@x.test, name@host.local): say so, too.
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_ANY_CASE = "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in n) for n in _SPECIAL_USE)
_EMAIL = Field(json_schema_extra={"pattern": f"^(?!.*@(?:.*\\.)?(?:{_ANY_CASE})\\.?$)[^\\u0000]*$"})
Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(_printable), _EMAIL]
Password = _text(8, 128)
Name = _text(0, 255)
Title = _text(1, 255)


class Schema(BaseModel):
    """Base of every model: its validator is built on first use, not at import.

    About 60 models are declared at import; building them all took a sixth of a start, and a
    desktop app's first requests need a few of them.
    """

    model_config = ConfigDict(defer_build=True)


class Input(Schema):
    """Base for request models: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


_QUERY_SCHEMAS: dict[type, dict] = {}


class Query(Input):
    """Base for query-string models: their plain JSON schema is built once, not per request.

    flask-openapi3 asks a query model for its schema on every request (to find list-valued
    fields); building it was ~0.7 ms of a 2 ms page. Calls with arguments (the document's) are
    passed through.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema; the no-argument one is cached per class."""
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        schema = _QUERY_SCHEMAS.get(cls)
        if schema is None:
            schema = _QUERY_SCHEMAS[cls] = super().model_json_schema()
        return schema


class Body(Input):
    """Base for JSON request bodies: strict types too (``0`` is not ``false``, ``"1"`` not ``1``).

    Query strings and form fields arrive as text and are converted; a JSON body has real types,
    and accepting the wrong one would contradict the document the clients are generated from.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class TemplateBody(Body):
    """Base for bodies of the template's endpoints (login, users, items): unknown fields ignored.

    The template's frontend sends more than these models hold (``confirm_password`` on its
    Add-user and Change-password forms) and the template's own models ignore it. Ignored means
    never applied: a field a caller may not set (``is_superuser`` on /users/me, ids, owners,
    timestamps) is simply not a field of the model it sends.
    """

    model_config = ConfigDict(extra="ignore", strict=True)


class Message(Schema):
    """A plain message."""

    message: str


class ErrorDetail(Schema):
    """Every non-validation error: ``{"detail": "..."}``."""

    detail: str


class ValidationError(Schema):
    """One validation problem, located like FastAPI's (and named like it in the document)."""

    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(Schema):
    """A 422 answer."""

    detail: list[ValidationError]


# ----------------------------------------------------------------------------- auth


class Token(Schema):
    """An access token."""

    access_token: str
    token_type: str = "bearer"


class LoginForm(Input):
    """OAuth2 password form fields, as FastAPI's OAuth2PasswordRequestForm declares them."""

    # Named as FastAPI names the form of login_access_token: the template's frontend imports
    # this type by name from its generated client.
    model_config = ConfigDict(extra="ignore", title="Body_login_login_access_token")

    grant_type: Annotated[str, Field(pattern="^password$")] | None = None
    username: _text(0, 255)  # type: ignore[valid-type]
    password: _text(0, 128)  # type: ignore[valid-type]
    scope: _text(0, 1000) = ""  # type: ignore[valid-type]
    client_id: _text(0, 255) | None = None  # type: ignore[valid-type]
    client_secret: _text(0, 255) | None = None  # type: ignore[valid-type]


class UpdatePassword(TemplateBody):
    """Own password change."""

    current_password: Password
    new_password: Password


# ----------------------------------------------------------------------------- users


class UserBase(Schema):
    """Fields common to user models."""

    email: Email
    is_active: bool = True
    is_superuser: bool = False
    full_name: Name | None = None


class UserCreate(TemplateBody, UserBase):
    """A superuser creating an account."""

    password: Password


class UserRegister(TemplateBody):
    """Self sign-up."""

    email: Email
    password: Password
    full_name: Name | None = None


class UserUpdate(TemplateBody):
    """A superuser changing an account."""

    email: Email | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None
    full_name: Name | None = None
    password: Password | None = None


class UserUpdateMe(TemplateBody):
    """A user changing their own account."""

    full_name: Name | None = None
    email: Email | None = None


class UserPublic(UserBase):
    """A user as the API shows it (never the password hash)."""

    email: str
    id: uuid.UUID
    created_at: UtcDateTime | None = None


class UsersPublic(Schema):
    """A page of users."""

    data: list[UserPublic]
    count: int


# ----------------------------------------------------------------------------- items


class ItemBase(Schema):
    """Fields common to item models."""

    title: Title
    description: Name | None = None


class ItemCreate(TemplateBody, ItemBase):
    """A new item."""


class ItemUpdate(TemplateBody):
    """Changes to an item."""

    title: Title | None = None
    description: Name | None = None


class ItemPublic(ItemBase):
    """An item as the API shows it."""

    title: str
    description: str | None = None
    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: UtcDateTime | None = None


class ItemsPublic(Schema):
    """A page of items."""

    data: list[ItemPublic]
    count: int


# ----------------------------------------------------------------------------- paging and paths


class PageQuery(Query):
    """skip/limit paging; limit is capped."""

    skip: Annotated[int, Field(ge=0, le=MAX_SKIP)] = 0
    limit: Annotated[int, Field(ge=0, le=MAX_PAGE)] = 100


class UserIdPath(Schema):
    """A user id in the path."""

    user_id: uuid.UUID


class ItemIdPath(Schema):
    """An item id in the path."""

    id: uuid.UUID


class Status(Schema):
    """The service's own report; where it keeps what, only for superusers."""

    version: str
    schema_revision: str | None
    healthy: bool
    auth_required: bool
    uptime_seconds: float
    # Superusers only (None for others): the data directory, the database kind and the parity
    # findings tell an attacker where to look.
    database: str | None = None
    data_dir: str | None = None
    schema_in_parity: bool | None = None
    parity_findings: list[str] | None = None
