"""Loopback safety: Host and Origin checks while auth is off, CORS, and the launch token.

A sidecar without auth trusts whoever can reach it. Binding to 127.0.0.1 keeps other machines
out; the Host check stops a web page that rebinds its own domain to 127.0.0.1 (DNS
rebinding); the Origin check stops a page in the user's browser from sending writes.
"""

from __future__ import annotations

import hmac
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from app import console
from app.errors import json_error

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LAUNCH_TOKEN_HEADER = "X-Launch-Token"
_CORS_HEADERS = f"Authorization, Content-Type, {LAUNCH_TOKEN_HEADER}"


def init_app(app: Flask) -> None:
    """Register the guard (before auth and validation) and the CORS headers."""
    app.before_request(_guard)
    app.after_request(_cors)


def _host_allowed(host_header: str) -> bool:
    settings = current_app.config["SETTINGS"]
    try:
        parts = urlsplit(f"//{host_header}")
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return False
    allowed = set(LOOPBACK_NAMES)
    if settings.host not in ("0.0.0.0", "::", ""):
        allowed.add(settings.host.strip("[]").lower())
    served = current_app.config.get("SERVED_PORT")
    return hostname in allowed and (served is None or port == served)


def origin_allowed(origin: str) -> bool:
    """True when ``origin`` matches the allow list (a '*' port matches any port)."""
    patterns = current_app.config["SETTINGS"].allowed_origins
    return any(fnmatchcase(origin.lower(), pattern.lower()) for pattern in patterns)


def _guard():
    settings = current_app.config["SETTINGS"]
    if settings.launch_token and request.method != "OPTIONS":
        given = request.headers.get(LAUNCH_TOKEN_HEADER, "")
        # A browser tab cannot send the header: the console's pages pass with the session
        # cookie a one-time launch link set (see app/console and docs/sidecar.md).
        if (
            not hmac.compare_digest(given.encode(), settings.launch_token.encode())
            and not console.admitted_by_cookie()
        ):
            return json_error(403, "A valid launch token is required")
    if settings.auth_required:
        return None
    if not _host_allowed(request.host):
        return json_error(403, "Host not allowed")
    origin = request.headers.get("Origin")
    if origin is not None and request.method not in SAFE_METHODS and not origin_allowed(origin):
        return json_error(403, "Origin not allowed")
    return None


def _cors(response: Response) -> Response:
    # Echo an allowed origin, never '*': credentials and a token-less mode make '*' unsafe.
    origin = request.headers.get("Origin")
    if origin and origin_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response
