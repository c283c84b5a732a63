"""The console's pages over HTTP: security headers, same-origin assets only, the loopback guard,
and the one-time launch links of launch-token mode."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest

from app import create_app
from app.console import STATIC
from app.db import close_db
from services.config import load_settings
from tests.api.conftest import API

# The pages and the launch door touch no database of their own: SQLite is enough here (the API
# they call is tested on every backend).
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
TOKEN = "5e" * 32


@SQLITE
def test_pages_and_assets_send_a_strict_csp_and_refuse_framing(client):
    for path in ("/", "/console/js/app.js", "/console/console.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()  # a file response holds its file open until closed
    script = client.get("/console/js/app.js")
    assert script.mimetype in ("text/javascript", "application/javascript")
    script.close()


def test_the_console_files_name_no_other_origin_and_hold_no_inline_script_or_style():
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"'](https?:)?//", text), path
        assert not re.search(r"\bimport\s.*from\s+[\"']https?:", text), path
        assert "innerHTML" not in text and "eval(" not in text, path
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline script"
            assert "style=" not in text and "<style" not in text and " on" not in text.lower()


@SQLITE
def test_unknown_and_traversing_asset_paths_are_json_404s(client):
    for path in ("/console/nothing.js", "/console/../__init__.py", "/console/js/%2e%2e/x.js"):
        response = client.get(path)
        assert response.status_code == 404 and "detail" in response.get_json(), path
    assert client.get("/console/index.py").status_code == 404


@SQLITE
def test_the_console_is_guarded_like_the_api_while_auth_is_off(make_client):
    client = make_client(auth_required=False)
    refused = client.get("/", headers={"Host": "attacker.example:1430"})
    assert refused.status_code == 403 and refused.get_json() == {"detail": "Host not allowed"}


@SQLITE
def test_the_pages_are_public_with_auth_on_but_the_data_is_not(make_client):
    client = make_client(auth_required=True)
    for path in ("/", "/console/js/api.js"):
        response = client.get(path)
        assert response.status_code == 200
        response.close()
    assert client.get(f"{API}/models/").status_code == 401


@pytest.fixture
def launch_client(migrated_target, tmp_path):
    env = {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": migrated_target.sa_url.render_as_string(hide_password=False),
        "LAUNCH_TOKEN": TOKEN,
    }
    app = create_app(load_settings(environ=env))
    yield app.test_client()
    close_db(app)


def _enter(client) -> tuple[str, str]:
    launched = client.post("/console/launch", headers={"X-Launch-Token": TOKEN})
    assert launched.status_code == 200
    url = launched.get_json()["url"]
    assert TOKEN not in url and launched.get_json()["expires_in"] == 60
    path = url.split("localhost", 1)[1]
    entered = client.get(path)
    assert entered.status_code == 303 and entered.headers["Location"] == "/"
    cookie = SimpleCookie(entered.headers["Set-Cookie"])["console_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    return path, cookie.value


@SQLITE
def test_a_launch_code_opens_one_browser_session_once(launch_client):
    client = launch_client
    assert client.get("/").status_code == 403
    assert client.post("/console/launch").status_code == 403
    path, session = _enter(client)
    page = client.get("/")  # the test client keeps the cookie
    assert page.status_code == 200
    page.close()
    assert client.get(f"{API}/models/").status_code == 200
    assert client.get(path).status_code == 403  # spent
    assert client.post("/console/leave").status_code == 204
    client.set_cookie("console_session", session)
    assert client.get(f"{API}/models/").status_code == 403  # closed


@SQLITE
def test_the_launch_cookie_counts_only_for_the_console_s_own_origin(launch_client):
    client = launch_client
    _enter(client)
    assert (
        client.get(f"{API}/models/", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    )
    # Another port of the same host is the same *site*: its pages carry a SameSite cookie.
    for headers in (
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://localhost:8000"},
    ):
        assert client.post(f"{API}/items/", json={"title": "x"}, headers=headers).status_code == 403
    # The cookie cannot mint new codes: only the token holder can.
    assert client.post("/console/launch").status_code == 403
    assert client.post("/console/launch", headers={"X-Launch-Token": "0" * 64}).status_code == 403


@SQLITE
def test_a_made_up_or_oversized_code_is_refused(launch_client):
    assert launch_client.get("/console/enter?code=nope").status_code == 403
    assert launch_client.get("/console/enter?code=" + "a" * 5000).status_code == 403
    assert launch_client.get(f"{API}/models/").status_code == 403
