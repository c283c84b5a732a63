"""The App Previewer console: static pages at ``/`` that talk to the JSON API.

The pages are plain files under ``app/static/console`` (no build step); everything they show
comes from ``/api/v1`` through the same auth, guards and validation as any other client.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request, send_from_directory

from app.errors import json_error
from services.launch import CODE_SECONDS, LaunchDoor

STATIC = Path(__file__).resolve().parents[1] / "static" / "console"
SESSION_COOKIE = "console_session"
LAUNCH_TOKEN_HEADER = "X-Launch-Token"
# What the pages may do: their own scripts, styles and API, nothing inline, never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_ASSET_TYPES = {".js", ".css", ".svg", ".html", ".json"}
# Endpoints the auth gate lets through: the pages hold no data; every figure comes from the API.
# The launch endpoint is guarded by the launch token header itself (see ``launch``).
PUBLIC_ENDPOINTS = frozenset(
    {"console.index", "console.asset", "console.launch", "console.enter", "console.leave"}
)

bp = Blueprint("console", __name__)


def init_app(app: Flask) -> None:
    """Mount the console and keep the launch door (codes and sessions) for this app."""
    app.extensions["launch_door"] = LaunchDoor()
    app.register_blueprint(bp)


@bp.after_request
def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


@bp.get("/")
def index():
    """The console's single page."""
    response = send_from_directory(STATIC, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/console/<path:filename>")
def asset(filename: str):
    """A script, style sheet or image of the console."""
    if Path(filename).suffix not in _ASSET_TYPES:
        abort(404)
    response = send_from_directory(STATIC, filename, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/console/launch")
def launch():
    """Launch-token mode: trade the token (checked by the guard) for a one-time console URL."""
    token = current_app.config["SETTINGS"].launch_token
    if not token:
        return json_error(404, "Launch codes exist only when LAUNCH_TOKEN is set")
    # The header, not a console cookie: only the shell that holds the token mints codes.
    given = request.headers.get(LAUNCH_TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return json_error(403, "A valid launch token is required")
    code = current_app.extensions["launch_door"].issue_code()
    url = f"{request.host_url}console/enter?code={code}"
    return {"url": url, "expires_in": int(CODE_SECONDS)}


@bp.get("/console/enter")
def enter():
    """Spend a launch code: set the session cookie and go to the console."""
    code = request.args.get("code", "")
    session = current_app.extensions["launch_door"].redeem(code) if len(code) < 100 else None
    if session is None:
        return json_error(403, "This console link is invalid, used or expired: ask the app again")
    response = Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict", path="/")
    return response


@bp.post("/console/leave")
def leave():
    """Close the browser's launch session."""
    current_app.extensions["launch_door"].close(request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")
    return response


def admitted_by_cookie() -> bool:
    """Launch-token mode: this request comes from the console's own pages in a browser that
    entered through a launch code (a page on another origin, even another port of the same
    host, which is the same *site*, does not count)."""
    if request.endpoint in ("console.enter", "console.leave"):
        return True
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return False
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        return False
    door = current_app.extensions.get("launch_door")
    return door is not None and door.session_valid(session)
