"""Login: tokens for a user, and their revocation."""

from __future__ import annotations

from datetime import UTC, datetime

from app.api import BEARER, BODY, PROTECTED, blueprint, errors
from app.auth import current_token, current_user, issue_token
from app.db import get_db
from app.http import respond
from services import users
from services.errors import Invalid
from services.schemas import LoginForm, Message, Token, UserPublic  # noqa: F401

bp = blueprint("login", secured=False)


@bp.post("/access-token", responses={200: Token, **errors(400, *BODY)})
def login_access_token(form: LoginForm):
    """OAuth2 password login: a bearer token for the user."""
    user = users.authenticate(db=get_db(), email=form.username, password=form.password)
    if user is None:
        raise Invalid("Incorrect email or password")
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
