"""Opt-in auth: bearer tokens from flask-jwt-extended, or the local superuser when auth is off.

Every endpoint needs a token when auth is on, except those in PUBLIC_ENDPOINTS; the check runs
before request validation, so an anonymous caller learns nothing about an endpoint's inputs.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask, current_app, g, request
from flask_jwt_extended import JWTManager, create_access_token, get_jwt, verify_jwt_in_request
from pydal.objects import Row

from app import console
from app.db import get_db
from app.errors import json_error
from services import security, users
from services.config import Settings
from services.errors import Forbidden, Invalid

PUBLIC_ENDPOINTS = frozenset(
    {
        "login.login_access_token",
        "users.register_user",
        "utils.health_check",
        "openapi_json",
        "static",
    }
)
TOKEN_LIFETIME = timedelta(days=8)
# With auth off every request acts as the local superuser; re-reading that row per request was
# a fifth of a GET /items/{id}. It is kept this long, and forgotten after any write to users
# here; another process changing it is seen within this delay.
DEFAULT_USER_SECONDS = 1.0


def init_app(app: Flask, settings: Settings) -> None:
    """Configure tokens, the default superuser and the before-request gate."""
    secret = settings.secret_key or security.load_or_create_secret(settings.data_dir)
    app.config.update(
        JWT_SECRET_KEY=secret,
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_ACCESS_TOKEN_EXPIRES=TOKEN_LIFETIME,
        JWT_ERROR_MESSAGE_KEY="detail",
    )
    jwt = JWTManager(app)
    _unauthorized = "Could not validate credentials"
    jwt.unauthorized_loader(lambda reason: json_error(401, "Not authenticated", _bearer()))
    jwt.invalid_token_loader(lambda reason: json_error(401, _unauthorized, _bearer()))
    jwt.expired_token_loader(lambda header, data: json_error(401, "Token has expired", _bearer()))
    jwt.revoked_token_loader(lambda header, data: json_error(401, _refusal(), _bearer()))
    jwt.token_verification_failed_loader(lambda h, d: json_error(401, _unauthorized, _bearer()))
    jwt.user_lookup_error_loader(lambda header, data: json_error(401, _unauthorized, _bearer()))
    jwt.token_verification_loader(_token_has_required_claims)
    jwt.token_in_blocklist_loader(_token_is_revoked)
    jwt.user_lookup_loader(lambda header, data: g.pop("_token_user", None))

    app.extensions["auth_required"] = settings.auth_required
    db = app.extensions["dal"]
    try:
        app.extensions["default_user_id"] = users.ensure_default_superuser(
            db=db, email=settings.first_superuser, password=settings.first_superuser_password
        )
    finally:
        db._adapter.close("rollback")
    app.before_request(_gate)
    app.after_request(_forget_default_user)


def _bearer() -> dict:
    return {"WWW-Authenticate": "Bearer"}


def _token_has_required_claims(header: dict, data: dict) -> bool:
    # Tokens that never expire, or that lack our revocation claims, are refused outright.
    return all(key in data for key in ("exp", "jti", "gen", "sub"))


def _token_is_revoked(header: dict, data: dict) -> bool:
    # A token is only as good as its account: a deleted or deactivated user's tokens stop
    # working at once, on every endpoint, like a logout or a password change revokes them.
    db = get_db()
    user = users.get_user(db=db, user_id=data["sub"], auth=True)
    g._token_user = user
    if user is None or not user.is_active:
        g._token_refusal = "Could not validate credentials" if user is None else "Inactive user"
        return True
    return data["gen"] != user.token_generation or users.token_is_revoked(db=db, jti=data["jti"])


def _refusal() -> str:
    return g.pop("_token_refusal", "Token has been revoked")


def _gate():
    if not current_app.extensions["auth_required"] or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.endpoint in console.PUBLIC_ENDPOINTS:
        return None
    if request.endpoint is None or request.endpoint.startswith(("openapi", "swagger")):
        return None  # 404s and the documentation pages
    verify_jwt_in_request()
    return None


def current_user() -> Row:
    """The acting user: the token's user, or the local superuser while auth is off."""
    if "user" in g:
        return g.user
    db = get_db()
    if current_app.extensions["auth_required"]:
        verify_jwt_in_request()
        from flask_jwt_extended import get_current_user

        user = get_current_user()
    else:
        user = _default_user(db)
    if not user.is_active:
        raise Invalid("Inactive user")
    g.user = user
    return user


def _default_user(db) -> Row:
    cached = current_app.extensions.get("default_user")
    now = time.monotonic()
    if cached is not None and now - cached[0] < DEFAULT_USER_SECONDS:
        return cached[1]
    user = users.get_user(db=db, user_id=current_app.extensions["default_user_id"])
    if user is None:  # deleted by another superuser: recreate it
        settings = current_app.config["SETTINGS"]
        current_app.extensions["default_user_id"] = users.ensure_default_superuser(
            db=db, email=settings.first_superuser, password=settings.first_superuser_password
        )
        user = users.get_user(db=db, user_id=current_app.extensions["default_user_id"])
    current_app.extensions["default_user"] = (now, user)
    return user


def _forget_default_user(response):
    if request.method != "GET" and (request.endpoint or "").startswith("users."):
        current_app.extensions.pop("default_user", None)
    return response


def current_superuser() -> Row:
    """The acting user, who must be a superuser."""
    user = current_user()
    if not user.is_superuser:
        raise Forbidden("The user doesn't have enough privileges")
    return user


def issue_token(user: Row) -> str:
    """A signed access token for ``user``."""
    return create_access_token(
        identity=str(user.id), additional_claims={"gen": user.token_generation}
    )


def current_token() -> dict | None:
    """The verified token's claims, when the request carried one."""
    if not current_app.extensions["auth_required"]:
        return None
    return get_jwt()
