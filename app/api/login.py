"""Login: tokens for a user, and their revocation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from pydantic import model_validator

from app.api import BEARER, BODY, PROTECTED, blueprint, errors
from app.auth import current_token, current_user, issue_token
from app.db import get_db
from app.http import respond
from services import schemas, throttle, users
from services.errors import Invalid
from services.schemas import Message, Token, UserPublic  # noqa: F401

bp = blueprint("login", secured=False)
_TEXT_FIELDS = ("grant_type", "username", "password", "scope", "client_id", "client_secret")


# flask-openapi3 JSON-decodes every form value, so a password such as ``12345678``, ``true`` or
# ``null`` would reach the model as a number, a boolean or nothing and be refused with a 422:
# such a user could never log in. The fields are text; take them from the form as sent.
class LoginForm(schemas.LoginForm):
    """OAuth2 password form fields."""

    @model_validator(mode="before")
    @classmethod
    def _as_sent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sent = request.form
            data = {**data, **{k: sent[k] for k in _TEXT_FIELDS if k in sent}}
        return data


@bp.post("/access-token", responses={200: Token, **errors(400, 429, *BODY)})
def login_access_token(form: LoginForm):
    """OAuth2 password login: a bearer token for the user (429 after repeated failures)."""
    from flask import current_app

    user = throttle.login(
        db=get_db(),
        email=form.username,
        password=form.password,
        client=request.remote_addr,
        local_superuser=current_app.config["SETTINGS"].first_superuser,
    )
    if not user.is_active:
        raise Invalid("Inactive user")
    return respond(Token(access_token=issue_token(user)))


@bp.post("/test-token", security=BEARER, responses={200: UserPublic, **errors(400, *PROTECTED)})
def test_token():
    """The user the token belongs to."""
    return respond(users.to_public(current_user()))


@bp.post("/logout", security=BEARER, responses={200: Message, **errors(400, *PROTECTED)})
def logout():
    """Revoke the token this request carries (a no-op while auth is off)."""
    user = current_user()
    claims = current_token()
    if claims is not None:
        expires = datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)
        users.revoke_token(db=get_db(), jti=claims["jti"], user_id=user.id, expires_at=expires)
    return respond(Message(message="Logged out"))
