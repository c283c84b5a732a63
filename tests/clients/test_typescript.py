"""The TypeScript client generated (with the pinned generator) for the example model's document
type-checks a program that creates, lists with a filter, updates and deletes rows; its types
follow a change of the model."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess

import pytest
from openapi_core import OpenAPI

from app import create_app
from app.db import close_db
from services.config import load_settings
from services.db import migrations
from tests.api.conftest import API, CheckedClient
from tests.api.test_models import SHOP
from tests.test_cli import ROOT, run_app

TS_DIR = ROOT / "tests" / "ts_appdb"
BIN = TS_DIR / "node_modules" / ".bin"
NPM = shutil.which("npm")

PROGRAM = """
import { client } from "./src/client.gen";
import { customerCreate, customerDelete, customerList, customerUpdate } from "./src/sdk.gen";
import type { CustomerCreate, CustomerPublic, CustomerUpdate } from "./src/types.gen";

client.setConfig({ baseUrl: "http://127.0.0.1:1430" });

export async function main(): Promise<number> {
  const body: CustomerCreate = {
    first_name: "Ada", email: "ada@example.com", tier: "pro", age: 36,
  };
  const created = await customerCreate({ body, throwOnError: true });
  const row: CustomerPublic = created.data;
  const page = await customerList({
    query: {
      tier: "pro", "age.gte": 30, "first_name.contains": "A", sort: "-created_at", limit: 10,
    },
    throwOnError: true,
  });
  const found: CustomerPublic[] = page.data.data;
  const change: CustomerUpdate = { vip: true, tier: null };
  const updated = await customerUpdate({ path: { id: row.id }, body: change, throwOnError: true });
  const vip: boolean | null | undefined = updated.data.vip;
  await customerDelete({ path: { id: row.id }, throwOnError: true });
  return found.length + (vip ? 1 : 0) + page.data.count;
}
"""
WRONG_ENUM = PROGRAM.replace('tier: "pro", age: 36,', 'tier: "gold", age: 36,')
NICKNAME = PROGRAM.replace("{ vip: true, tier: null }", '{ vip: true, nickname: "Countess" }')


@pytest.fixture(scope="module")
def toolchain():
    """The pinned generator and TypeScript, installed from the lock."""
    if NPM is None:
        if os.environ.get("REQUIRE_NODE"):
            pytest.fail("REQUIRE_NODE is set (CI) but npm is not on PATH")
        pytest.skip("npm is not installed (Node is present in CI)")
    if not (BIN / "openapi-ts").exists() or not (BIN / "tsc").exists():
        subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund"],
            cwd=TS_DIR,
            check=True,
            timeout=600,
            capture_output=True,
        )
    return BIN


@pytest.fixture
def shop_dir(tmp_path):
    """An SQLite data dir holding the example model."""
    settings = load_settings(environ={"DATA_DIR": str(tmp_path), "AUTH_REQUIRED": "false"})
    migrations.upgrade(settings.database)
    app = create_app(settings)
    client = CheckedClient(app, OpenAPI.from_dict(app.api_doc))
    assert client.post(f"{API}/models/", json=SHOP).status_code == 200
    yield tmp_path, client
    close_db(app)


def _generate(bin_dir, data_dir, out) -> None:
    # What `make generate-client MODEL=shop-demo` runs.
    doc = out / "openapi.json"
    out.mkdir(parents=True, exist_ok=True)
    made = run_app(
        "openapi", "--model", "shop-demo", "--output", str(doc), env={"DATA_DIR": str(data_dir)}
    )
    assert made.returncode == 0, made.stderr
    shutil.rmtree(out / "src", ignore_errors=True)
    subprocess.run(
        [str(bin_dir / "openapi-ts"), "-i", str(doc), "-o", str(out / "src")],
        check=True,
        capture_output=True,
        timeout=300,
    )


def _typecheck(bin_dir, out, program: str) -> subprocess.CompletedProcess:
    (out / "main.ts").write_text(program)
    return subprocess.run(
        [
            str(bin_dir / "tsc"),
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom,dom.iterable",
            str(out / "main.ts"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_generated_client_type_checks_a_program_using_its_rows(toolchain, shop_dir, tmp_path):
    data_dir, _ = shop_dir
    out = tmp_path / "client"
    _generate(toolchain, data_dir, out)
    checked = _typecheck(toolchain, out, PROGRAM)
    assert checked.returncode == 0, checked.stdout
    wrong = _typecheck(toolchain, out, WRONG_ENUM)  # the check is real: a bad enum value fails
    assert wrong.returncode != 0 and '"gold"' in wrong.stdout


def test_the_generated_types_follow_a_change_of_the_model(toolchain, shop_dir, tmp_path):
    data_dir, client = shop_dir
    out = tmp_path / "client"
    _generate(toolchain, data_dir, out)
    before = _typecheck(toolchain, out, NICKNAME)
    assert before.returncode != 0 and "nickname" in before.stdout
    changed = copy.deepcopy(SHOP)
    changed["definition"]["entities"][0]["fields"].append({"name": "nickname", "type": "String"})
    assert client.put(f"{API}/models/shop-demo", json=changed).status_code == 200
    _generate(toolchain, data_dir, out)
    after = _typecheck(toolchain, out, NICKNAME)
    assert after.returncode == 0, after.stdout
