"""Loopback safety: Host and Origin checks while auth is off, CORS, and the launch token.

A sidecar without auth trusts whoever can reach it. Binding to 127.0.0.1 keeps other machines
out; the Host check stops a web page that rebinds its own domain to 127.0.0.1 (DNS
rebinding); the Origin check stops a page in the user's browser from sending writes.
"""

from __future__ import annotations

import hmac
import re
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


# scheme://host[:port] and nothing else (RFC 6454): no user info, path, query or fragment. The
# host is a DNS name, an IPv4 address or a bracketed IPv6 address; a pattern's port may be '*'.
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}|\*))?"
)
_LOOPBACK_ORIGIN_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


def _origin_parts(origin: str) -> tuple[str, str, str | None] | None:
    match = _ORIGIN.fullmatch(origin.strip().lower())
    if match is None:
        return None
    port = match["port"]
    if port is not None and port != "*" and not 0 < int(port) < 65536:
        return None
    return match["scheme"], match["host"], port


def _origin_matches(origin: tuple[str, str, str | None], pattern: tuple) -> bool:
    scheme, host, port = origin
    p_scheme, p_host, p_port = pattern
    if scheme != p_scheme or port == "*":
        return False
    # The loopback names are one machine: [::1] is as local as 127.0.0.1 and localhost.
    same_host = host == p_host or {host, p_host} <= _LOOPBACK_ORIGIN_HOSTS
    return same_host and (p_port == "*" or port == p_port)


def origin_allowed(origin: str) -> bool:
    """True when ``origin`` is one of the allowed origins: scheme, host and port compared
    exactly after parsing (a pattern's '*' port matches any numeric port), never as a glob."""
    parts = _origin_parts(origin)
    if parts is None:
        return False
    patterns = current_app.config["SETTINGS"].allowed_origins
    return any(
        (pattern := _origin_parts(p)) is not None and _origin_matches(parts, pattern)
        for p in patterns
    )


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
