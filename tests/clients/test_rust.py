"""The Rust crates generated for the main API and the example model build offline with cargo
against Debian's crates, and a Rust program drives a live service through them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.api.test_models import SHOP
from tests.procs import ROOT, Service

PASSWORD = "rust client password"
EMAIL = "admin@example.com"
# Kept between runs, outside the checkout like cargo's registry cache: a fresh clone reuses
# the compiled Debian crates (cargo rebuilds whatever changed); they cost minutes the first time.
TARGET_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "local-data-service"
    / "cargo-target"
)
CARGO = shutil.which("cargo")

SMOKE_TOML = """[package]
name = "smoke"
version = "0.1.0"
edition = "2021"

[dependencies]
main_api = { path = "../main_api" }
shop_demo = { path = "../shop_demo" }
serde_json = "1"
"""


def _run(*args: str, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stderr[-4000:]}"
    return result


def _generate(doc_path, out_dir, crate: str) -> None:
    _run(sys.executable, "-m", "services.clients.rust", str(doc_path), str(out_dir), crate)


@pytest.mark.skipif(
    CARGO is None, reason="cargo is not installed (rustup or apt-get install cargo)"
)
def test_a_rust_program_drives_a_live_service_through_the_generated_crates(tmp_path, monkeypatch):
    monkeypatch.setenv("FIRST_SUPERUSER", EMAIL)
    monkeypatch.setenv("FIRST_SUPERUSER_PASSWORD", PASSWORD)
    data = tmp_path / "data"
    service = Service(data, tmp_path / "service.log", args=("--auth-required",))
    try:
        form = urllib.parse.urlencode({"username": EMAIL, "password": PASSWORD})
        import http.client

        conn = http.client.HTTPConnection(service.host, service.port, timeout=30)
        conn.request(
            "POST",
            "/api/v1/login/access-token",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        token = json.loads(conn.getresponse().read())["access_token"]
        conn.close()
        auth = {"Authorization": f"Bearer {token}"}
        status, body = service.call("POST", "/api/v1/models/", SHOP, headers=auth)
        assert status == 200, body
        status, main_doc = service.call("GET", "/api/v1/openapi.json")
        assert status == 200
        status, shop_doc = service.call(
            "GET", "/api/v1/models/shop-demo/openapi.json", headers=auth
        )
        assert status == 200, shop_doc
        crates = tmp_path / "crates"
        crates.mkdir()
        for name, doc in (("main_api", main_doc), ("shop_demo", shop_doc)):
            (crates / f"{name}.json").write_text(json.dumps(doc))
            _generate(crates / f"{name}.json", crates / name, name)
        assert (crates / "shop_demo" / "src" / "types.rs").exists()
        assert (crates / "shop_demo" / "src" / "client.rs").exists()
        smoke = crates / "smoke"
        (smoke / "src").mkdir(parents=True)
        (smoke / ".cargo").mkdir()
        shutil.copy(crates / "shop_demo" / ".cargo" / "config.toml", smoke / ".cargo")
        (smoke / "Cargo.toml").write_text(SMOKE_TOML)
        shutil.copy(ROOT / "tests" / "clients" / "rust_smoke.rs", smoke / "src" / "main.rs")
        built = subprocess.run(
            [CARGO, "build", "--offline", "--quiet"],
            cwd=smoke,
            env={**_env(), "CARGO_TARGET_DIR": str(TARGET_DIR)},
            capture_output=True,
            text=True,
            timeout=1500,
        )
        assert built.returncode == 0, built.stderr[-6000:]
        ran = subprocess.run(
            [
                str(TARGET_DIR / "debug" / "smoke"),
                f"http://127.0.0.1:{service.port}",
                EMAIL,
                PASSWORD,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        said = ran.stdout.splitlines()
        assert said[-1] == "done"
        for what in ("item", "customer", "supplier", "product", "purchase", "review"):
            assert f"{what} ok" in said
        status, page = service.call("GET", "/api/v1/items/", headers=auth)
        assert [i["title"] for i in page["data"]] == ["made by the Rust client"]
        base = "/api/v1/models/shop-demo/app-database/entities"
        for entity in ("customer", "supplier", "product", "purchase", "review"):
            status, rows = service.call("GET", f"{base}/{entity}", headers=auth)
            assert status == 200 and rows["count"] == 1, (entity, rows)
    finally:
        service.stop()


def _env() -> dict:
    return dict(os.environ)
