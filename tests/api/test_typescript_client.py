"""The template's frontend compiles against a client generated from this service's document.

The client is generated with the generator and settings the template's frontend uses
(tests/ts/openapi-ts.config.ts, @hey-api/openapi-ts pinned in tests/ts/package-lock.json, as in
the Makefile's OPENAPI_TS), then tests/ts/usage.ts, the calls and types the frontend uses, is
type-checked with tsc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app import create_app
from tests.api.conftest import API

TS = Path(__file__).resolve().parents[1] / "ts"
MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=TS, capture_output=True, text=True, timeout=600)


def _installed() -> bool:
    # npm ci writes node_modules/.package-lock.json; a stale or missing one means install.
    marker = TS / "node_modules" / ".package-lock.json"
    lock = TS / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="module")
def toolchain() -> Path:
    """tests/ts/node_modules from the lock file (npm ci), or a visible skip without Node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("REQUIRE_NODE"):
            pytest.fail("REQUIRE_NODE is set (CI) but node/npm is not on PATH")
        pytest.skip("node/npm not found: the TypeScript client type-check needs Node")
    if not _installed():
        done = _run("npm", "ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stderr
    return TS / "node_modules" / ".bin"


def test_the_generator_is_the_one_the_makefile_pins():
    lock = json.loads((TS / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/@hey-api/openapi-ts"]["version"]
    assert f"OPENAPI_TS ?= @hey-api/openapi-ts@{version}" in MAKEFILE.read_text()


def test_the_templates_frontend_calls_type_check_against_the_generated_client(toolchain):
    app = create_app(serve=False)
    served = app.test_client().get(f"{API}/openapi.json")
    assert served.status_code == 200
    out = TS / "client"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (out / "openapi.json").write_text(served.get_data(as_text=True))

    generated = _run(str(toolchain / "openapi-ts"))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    types = (out / "src" / "types.gen.ts").read_text()
    assert "export type Body_login_login_access_token" in types
    assert "application/x-www-form-urlencoded" in (out / "src" / "sdk.gen.ts").read_text()

    checked = _run(str(toolchain / "tsc"), "-p", "tsconfig.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
