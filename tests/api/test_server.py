"""The real server: `python -m app serve --port 0` in a subprocess, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _call(base: str, method: str, path: str, *, token=None, json_body=None, form=None):
    data, headers = None, {}
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    env.update(FIRST_SUPERUSER="root@example.com", FIRST_SUPERUSER_PASSWORD="server-password")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--auth-required",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        yield ready["url"] + "/api/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0


def test_login_users_and_items_over_http(server):
    assert _call(server, "GET", "/utils/health-check/") == (200, True)
    assert _call(server, "GET", "/items/")[0] == 401

    status, body = _call(
        server,
        "POST",
        "/login/access-token",
        form={"username": "root@example.com", "password": "server-password"},
    )
    assert status == 200
    root = body["access_token"]

    status, user = _call(
        server,
        "POST",
        "/users/",
        token=root,
        json_body={"email": "worker@example.com", "password": "worker-password"},
    )
    assert status == 200 and "hashed_password" not in user
    status, body = _call(
        server,
        "POST",
        "/login/access-token",
        form={"username": "worker@example.com", "password": "worker-password"},
    )
    worker = body["access_token"]

    status, item = _call(server, "POST", "/items/", token=worker, json_body={"title": "over http"})
    assert status == 200 and item["owner_id"] == user["id"]
    assert _call(server, "GET", f"/items/{item['id']}", token=worker) == (200, item)
    status, page = _call(server, "GET", "/items/?limit=10", token=worker)
    assert page["count"] == 1 and page["data"] == [item]
    assert _call(server, "GET", "/users/", token=worker)[0] == 403
    assert _call(server, "GET", "/users/", token=root)[1]["count"] == 2

    assert _call(server, "POST", "/login/logout", token=worker)[0] == 200
    assert _call(server, "GET", "/items/", token=worker)[0] == 401
