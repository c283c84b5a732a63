"""Launch-token mode in a real Chromium: the shell trades its token for a one-time console link;
the browser gets a strict same-site cookie and never sees the token."""

from __future__ import annotations

import http.client
import json

from playwright.sync_api import expect

from tests.console.conftest import Console, shots_dir

TOKEN = "a3f1" * 16


def _post(service, path: str, headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        conn.request("POST", path, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_a_one_time_link_opens_the_console_without_the_token_reaching_the_browser(
    browser, start_service
):
    service = start_service(LAUNCH_TOKEN=TOKEN)
    base = f"http://127.0.0.1:{service.port}"
    assert _post(service, "/console/launch", {})[0] == 403
    status, launch = _post(service, "/console/launch", {"X-Launch-Token": TOKEN})
    assert status == 200 and launch["url"].startswith(f"{base}/console/enter?code=")
    assert TOKEN not in launch["url"]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page, base, shots_dir() / "launch-token", audit=False)
    assert page.goto(f"{base}/").status == 403  # no token, no cookie: nothing

    page.goto(launch["url"])
    console.ready("overview")
    assert page.url == f"{base}/"  # the code is gone from the address bar
    cookie = next(c for c in context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    expect(page.locator("main")).to_contain_text("No models yet")
    console.check("overview")

    # The pages work through the cookie: a model created from the designer shows up.
    page.get_by_role("link", name="New model").first.click()
    console.ready("new-model")
    page.get_by_label("Model id").fill("launch-demo")
    page.get_by_label("Model name").fill("Launch demo")
    # Built with the form alone: a second entity, an Enum field and a OneToMany relationship.
    page.get_by_role("button", name="Add an entity").click()
    page.get_by_label("Entity name").nth(1).fill("task")
    page.get_by_label("Entity name").nth(1).press("Tab")  # leaving the name redraws the form
    page.get_by_role("button", name="Add a field to task").click()
    page.get_by_label("Field name").nth(2).fill("state")
    page.get_by_label("Type").nth(2).select_option("Enum")
    page.get_by_label("Values").fill("open, done")
    page.get_by_label("Required").nth(2).check()
    page.get_by_role("button", name="Add a relationship").click()
    page.get_by_label("From entity").select_option("entity_1")
    page.get_by_label("To entity").select_option("task")
    page.get_by_label("Relationship name").fill("owner")
    console.check("designer-form")
    page.get_by_role("button", name="Create model").click()
    console.ready("model", "/models/launch-demo")
    console.check("model")
    made = page.evaluate("fetch('/api/v1/models/launch-demo').then((r) => r.json())")
    task = made["definition"]["entities"][1]
    assert task["name"] == "task" and task["fields"][1] == {
        "name": "state",
        "type": "Enum",
        "required": True,
        "unique": False,
        "values": ["open", "done"],
    }
    assert made["definition"]["relationships"] == [
        {"type": "OneToMany", "from": "entity_1", "to": "task", "name": "owner"}
    ]

    storage = page.evaluate("JSON.stringify([{...sessionStorage}, {...localStorage}])")
    assert TOKEN not in storage and TOKEN not in page.content()
    assert all(TOKEN not in url for url in console.requests)
    assert console.offsite() == [] and console.problems == []

    # The link was spent: another browser cannot use it.
    other = browser.new_context()
    assert other.new_page().goto(launch["url"]).status == 403
    other.close()
    context.close()
