"""The console in a real headless Chromium, in both auth modes: design the example model, seed
it, browse, fix a bad value, change the model, empty it and delete it. Every page is
screenshotted (tests/results/console/ or $CONSOLE_SHOTS), checked with axe-core and walked with
the keyboard."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.console.conftest import (
    ROOT,
    SUPERUSER,
    SUPERUSER_PASSWORD,
    Console,
    shots_dir,
)

EXAMPLE = json.loads((ROOT / "docs" / "example-model.json").read_text(encoding="utf-8"))


def _column(page, header: str) -> list[str]:
    """The texts of one column of the rows table, found by its header."""
    return page.evaluate(
        """(header) => {
            const heads = [...document.querySelectorAll('main table thead th')];
            const at = heads.findIndex((th) => th.textContent.trim().startsWith(header));
            return [...document.querySelectorAll('main table tbody tr')]
                .map((tr) => tr.children[at].textContent.trim());
        }""",
        header,
    )


def _api(console: Console, path: str) -> dict:
    """GET an API path the way the console does (its token, its cookies)."""
    token = console.page.evaluate("sessionStorage.getItem('console.token')")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = console.page.request.get(f"{console.base}/api/v1{path}", headers=headers)
    assert response.ok, response.text()
    return response.json()


@pytest.mark.parametrize("mode", ["auth-off", "auth-on"])
def test_a_designer_builds_seeds_browses_changes_and_deletes_the_example_model(
    browser, start_service, mode
):
    service = start_service(AUTH_REQUIRED="true" if mode == "auth-on" else "false")
    base = f"http://127.0.0.1:{service.port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # The pages are the same in both modes: audit them (axe, keyboard) once, in auth-off, plus
    # the login page that only auth-on has; both modes get every screenshot.
    console = Console(page, base, shots_dir() / mode, audit=mode == "auth-off")
    page.goto(f"{base}/")

    # ---- log in (auth on) or land on the overview (auth off)
    if mode == "auth-on":
        console.ready("login")
        console.check("login", audit=True)
        page.get_by_label("Email").fill(SUPERUSER)
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Incorrect")
        page.get_by_label("Password").fill(SUPERUSER_PASSWORD)
        page.get_by_role("button", name="Log in").click()
    console.ready("overview")
    expect(page.locator("#who")).to_contain_text(
        f"Signed in as {SUPERUSER}" if mode == "auth-on" else "Auth off"
    )
    console.check("overview-empty")

    # ---- the designer: a reserved word is refused next to its field, then the example JSON
    page.get_by_role("link", name="New model").first.click()
    console.ready("new-model")
    page.get_by_label("Model id").fill("shop-demo")
    page.get_by_label("Model name").fill("Shop demo")
    page.get_by_label("Field name").first.fill("order")
    page.get_by_role("button", name="Create model").click()
    field_error = page.locator(".fieldrow .error").first
    expect(field_error).to_contain_text("reserved")
    expect(page.get_by_label("Field name").first).to_have_attribute("aria-invalid", "true")
    console.check("designer-inline-error")
    page.get_by_role("tab", name="JSON").click()
    page.get_by_label("Model definition (JSON)").fill(json.dumps(EXAMPLE, indent=2))
    page.get_by_role("tab", name="Form").click()  # the pasted document drawn as the form
    expect(page.get_by_label("Entity name")).to_have_count(3)
    console.check("designer-example")
    page.get_by_role("button", name="Create model").click()
    console.ready("model", "/models/shop-demo")

    # ---- seed with a fixed seed: the report, then the counts
    page.get_by_label("Rows per entity").fill("8")
    page.get_by_label("Seed number").fill("42")
    page.get_by_role("button", name="Seed", exact=True).click()
    expect(page.locator("#seed-report")).to_contain_text("Rows created")
    expect(page.locator("#seed-report")).to_contain_text("42")
    console.check("model-seed-report", audit=False)  # the same page is audited just below
    page.get_by_role("button", name="Refresh the counts").click()
    console.ready("model", "/models/shop-demo")
    expect(page.locator(".card", has_text="Rows")).to_contain_text("24")
    console.check("model-seeded")

    # ---- browse customers: sort by age (descending), then filter
    page.get_by_role("link", name="Customer", exact=True).click()
    console.ready("rows", "/rows/customer")
    page.get_by_role("button", name=re.compile(r"^age")).click()
    console.ready("rows", "sort=age")
    page.get_by_role("button", name=re.compile(r"^age")).click()
    console.ready("rows", "sort=-age")
    ages = [int(a) for a in _column(page, "age") if a != "–"]
    assert len(ages) >= 2 and ages == sorted(ages, reverse=True)
    expected = _api(console, "/models/shop-demo/app-database/entities/customer?sort=-age&limit=20")
    shown_ids = page.evaluate(
        "[...document.querySelectorAll('main tbody tr td:first-child a')]"
        ".map((a) => a.getAttribute('aria-label').replace('Open row ', ''))"
    )
    assert shown_ids == [row["id"] for row in expected["data"]]
    threshold = sorted(ages)[len(ages) // 2]
    page.get_by_label("Filter field").select_option("age")
    page.get_by_label("Operator").select_option("gt")
    page.get_by_label("Value").fill(str(threshold))
    page.get_by_role("button", name="Add filter").click()
    console.ready("rows", f"age.gt={threshold}")
    filtered = [int(a) for a in _column(page, "age")]
    total = _api(
        console, f"/models/shop-demo/app-database/entities/customer?age.gt={threshold}&limit=1"
    )["count"]
    assert filtered and all(a > threshold for a in filtered) and len(filtered) == total
    expect(page.get_by_role("list", name="Active filters")).to_contain_text(f"age.gt = {threshold}")
    console.check("rows-sorted-filtered")

    # ---- a new customer: the missing required field is named, then created, then deleted
    page.get_by_role("link", name="New customer").click()
    console.ready("new-row", "/rows/customer/new")
    page.get_by_label("email (required)").fill("new.customer@example.com")
    page.get_by_role("button", name="Create row").click()
    first_name = page.get_by_label("first_name (required)")
    expect(first_name).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field", has=first_name).locator(".error")).not_to_be_empty()
    console.check("row-create-error")
    first_name.fill("Newton")
    page.get_by_label("tier").select_option("pro")
    page.get_by_role("button", name="Create row").click()
    console.ready("row", "/rows/customer/")
    expect(page.get_by_role("status").filter(has_text="Row created.")).to_be_visible()
    expect(page.locator("dl.values")).to_contain_text("Newton")
    page.get_by_label("Yes, delete this row").check()
    page.get_by_role("button", name="Delete this row").click()
    console.ready("rows", "/rows/customer")
    expect(page.get_by_role("status").filter(has_text="Row deleted.")).to_be_visible()
    gone = _api(console, "/models/shop-demo/app-database/entities/customer?first_name=Newton")
    assert gone["count"] == 0

    # ---- purchases: ManyToMany chips, and a reference link to the customer row
    page.get_by_role("link", name="Shop demo").click()
    console.ready("model", "/models/shop-demo")
    page.get_by_role("link", name="Purchase", exact=True).click()
    console.ready("rows", "/rows/purchase")
    assert page.locator("main tbody ul.chips a").count() > 0
    console.check("rows-purchase")
    link = page.locator("main tbody a[aria-label^='customer ']").first
    customer_id = link.get_attribute("aria-label").split(" ", 1)[1]
    link.click()
    console.ready("row", f"/rows/customer/{customer_id}")
    expect(page.locator("dl.values")).to_contain_text(customer_id)

    # ---- a bad value gets the API's message next to the field; a good one is saved
    page.get_by_label("age", exact=True).fill("old")
    page.get_by_role("button", name="Save changes").click()
    age_error = page.locator(".field", has=page.get_by_label("age", exact=True)).locator(".error")
    expect(age_error).to_be_visible()
    expect(age_error).not_to_be_empty()
    console.check("row-bad-value")
    page.get_by_label("age", exact=True).fill("33")
    page.get_by_role("button", name="Save changes").click()
    console.ready("row", f"/rows/customer/{customer_id}")
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    saved = _api(console, f"/models/shop-demo/app-database/entities/customer/{customer_id}")
    assert saved["age"] == 33
    console.check("row-saved")

    # ---- change the model: the dry-run plan, then a confirmed destructive step
    page.get_by_role("link", name="Shop demo").click()
    console.ready("model", "/models/shop-demo")
    page.get_by_role("link", name="Edit the model").click()
    console.ready("edit-model", "/models/shop-demo/edit")
    changed = json.loads(json.dumps(EXAMPLE))
    product = next(e for e in changed["definition"]["entities"] if e["name"] == "product")
    product["fields"] = [f for f in product["fields"] if f["name"] != "specs"]
    changed["definition"]["entities"][0]["fields"].append({"name": "nickname", "type": "String"})
    page.get_by_role("tab", name="JSON").click()
    page.get_by_label("Model definition (JSON)").fill(json.dumps(changed, indent=2))
    page.get_by_role("button", name="Preview changes").click()
    plan = page.locator("#plan")
    expect(plan.locator("li.destructive")).to_contain_text("product.specs")
    expect(plan).to_contain_text("customer.nickname")
    apply = page.get_by_role("button", name="Apply these changes")
    expect(apply).to_be_disabled()
    console.check("model-change-plan")
    page.get_by_label("I understand: delete this data").check()
    apply.click()
    console.ready("model", "/models/shop-demo")
    expect(page.locator(".card", has_text="Version")).to_contain_text("2")
    assert _api(console, "/models/shop-demo")["version"] == 2

    # ---- schema check, then empty (confirmed)
    page.get_by_role("button", name="Check the schema").click()
    expect(page.locator("main")).to_contain_text("already matches")
    page.get_by_label("Yes, delete every row").check()
    page.get_by_role("button", name="Empty the database").click()
    expect(page.get_by_role("status").filter(has_text="Every row was deleted")).to_be_visible()
    assert _api(console, "/models/shop-demo/app-database/status")["total_entities"] == 0
    console.check("model-emptied")

    # ---- delete by typing the id
    delete = page.get_by_role("button", name="Delete the model and its data")
    page.get_by_label("Type the model id").fill("shop-dem")
    expect(delete).to_be_disabled()
    page.get_by_label("Type the model id").fill("shop-demo")
    delete.click()
    console.ready("overview")
    expect(page.locator("main")).to_contain_text("No models yet")
    console.check("overview-after-delete")

    if mode == "auth-on":
        page.get_by_role("button", name="Log out").click()
        console.ready("login")
        assert page.evaluate("sessionStorage.getItem('console.token')") is None

    # ---- nothing left the service, every page sent the CSP, and no script or CSP error
    assert console.offsite() == []
    assert console.documents and all(
        "frame-ancestors 'none'" in headers.get("content-security-policy", "")
        and headers.get("x-frame-options") == "DENY"
        for _, headers in console.documents
    )
    assert console.problems == []
    context.close()
