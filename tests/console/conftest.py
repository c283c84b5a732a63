"""Console fixtures: Debian's Chromium driven by Playwright, a real service process per test."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.procs import Service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
# As root in a container: no sandbox; nothing that phones home (the tests also check that no
# request leaves the service).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SUPERUSER = "admin@example.com"
SUPERUSER_PASSWORD = "correct horse battery staple"


def shots_dir() -> Path:
    """Where screenshots go: $CONSOLE_SHOTS, else tests/results/console (gitignored)."""
    return Path(os.environ.get("CONSOLE_SHOTS") or ROOT / "tests" / "results" / "console")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (Debian's package: `make chromium`)."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (make chromium)"
        if os.environ.get("CI") or os.environ.get("REQUIRE_BROWSER"):  # .ci/run sets it
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary user-data-dir of its own each session.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def start_service(tmp_path, monkeypatch):
    """Start `python -m app serve --port 0` with extra environment; stopped after the test."""
    started = []

    def _start(**env: str) -> Service:
        for key in ("AUTH_REQUIRED", "LAUNCH_TOKEN"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("FIRST_SUPERUSER", SUPERUSER)
        monkeypatch.setenv("FIRST_SUPERUSER_PASSWORD", SUPERUSER_PASSWORD)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        data_dir = tmp_path / f"data{len(started)}"
        service = Service(data_dir, tmp_path / f"stderr{len(started)}.log")
        started.append(service)
        return service

    yield _start
    for service in started:
        service.stop()


class Console:
    """A page of the console with the checks every page gets: axe, keyboard, screenshot."""

    def __init__(self, page, base: str, shots: Path, *, audit: bool = True) -> None:
        self.page = page
        self.audit = audit
        self.base = base
        self.shots = shots
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.documents: list = []
        self.count = 0
        shutil.rmtree(shots, ignore_errors=True)
        shots.mkdir(parents=True)
        page.set_default_timeout(15_000)
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error" and not re.search(
            r"status of (400|401|403|404|409|422)", message.text
        ):
            self.problems.append(f"console error: {message.text}")

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            self.documents.append((response.url, response.headers))

    def ready(self, view: str, hash_part: str = "") -> None:
        """Wait until the page for ``view`` (and a hash containing ``hash_part``) is drawn."""
        self.page.wait_for_function(
            """([view, part]) => {
                const main = document.getElementById('main');
                return main && main.getAttribute('aria-busy') === 'false'
                    && main.dataset.view === view && (main.dataset.hash || '').includes(part)
                    && window.location.hash === main.dataset.hash;
            }""",
            arg=[view, hash_part],
        )

    def check(self, name: str, *, audit: bool | None = None) -> None:
        """Screenshot the page, then (when auditing) require no serious axe violation and every
        control reachable with Tab."""
        self.count += 1
        self.page.screenshot(path=self.shots / f"{self.count:02d}-{name}.png", full_page=True)
        if self.audit if audit is None else audit:
            self.axe(name)
            self.keyboard(name)

    def axe(self, name: str) -> None:
        """Run axe-core (vendored) in the page: no serious or critical violation."""
        # Evaluated through the DevTools protocol, not injected as a <script>: the CSP stays on.
        if self.page.evaluate("typeof window.axe === 'undefined'"):  # once per document
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
                     v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"""
        )
        assert not violations, f"{name}: accessibility violations:\n" + "\n".join(violations)

    def keyboard(self, name: str) -> None:
        """Tab from the first control through the page: each visible control gets focus."""
        total = self.page.evaluate(
            """() => {
                const sel = 'a[href], button:not([disabled]), input:not([disabled]),'
                    + ' select:not([disabled]), textarea:not([disabled])';
                const shown = (e) => e.getClientRects().length
                    && getComputedStyle(e).visibility !== 'hidden';
                const all = [...document.querySelectorAll(sel)].filter(shown);
                all.forEach((e, i) => { e.dataset.kb = String(i); });
                window.__seen = new Set();
                document.addEventListener('focusin', (e) => {
                    const kb = e.target.dataset && e.target.dataset.kb;
                    if (kb) window.__seen.add(kb);
                });
                document.querySelector('.skip').focus();
                return all.length;
            }"""
        )
        for _ in range(total + 3):
            self.page.keyboard.press("Tab")
        missed = self.page.evaluate(
            """() => [...document.querySelectorAll('[data-kb]')]
                .filter((e) => !window.__seen.has(e.dataset.kb) && !e.classList.contains('skip'))
                .map((e) => e.outerHTML.slice(0, 120))"""
        )
        assert not missed, f"{name}: not reachable by keyboard:\n" + "\n".join(missed)

    def offsite(self) -> list[str]:
        """Every request that did not go to the service."""
        return [
            u for u in self.requests if not u.startswith(self.base) and not u.startswith("data:")
        ]
