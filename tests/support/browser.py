"""Browser tests: Debian's Chromium driven by Playwright (never a downloaded
browser), pages whose console is watched, screenshots and axe-core."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
)

from tests.support.node import npm_ci
from tests.support.system import require_command

# Where the tests' screenshots go (gitignored, rewritten by every run); the
# README's pictures are chosen copies of some, in docs/screenshots/.
SCREENSHOTS = Path(__file__).parents[1] / "browser" / "screenshots"
AXE = Path(__file__).with_name("axe")
# Root in a container has no user namespaces for Chromium's sandbox, and
# /dev/shm there is small.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")
# Chromium logs every answer >= 400 to a fetch as a console error; a 4xx is an
# answer the page reads and shows (401 before sign-in, 422 on bad input).
_CLIENT_ERROR = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d\b"
)


async def launch_chromium(playwright: Playwright) -> Browser:
    """Headless /usr/bin/chromium (or the `chromium` on the PATH); skips, or
    fails under CI=true, when it is not installed."""
    executable = require_command("chromium")
    return await playwright.chromium.launch(
        executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
    )


@dataclass
class ConsoleLog:
    """What a page said: console errors and warnings, uncaught exceptions,
    failed requests. `errors` fail the test (`assert_clean`); a test that
    provokes one on purpose declares it first with `expect`."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._error(f"page error: {error}"))
        page.on(
            "requestfailed",
            lambda request: self._error(
                f"request failed: {request.method} {request.url}: {request.failure}"
            ),
        )

    def expect(self, pattern: str) -> None:
        """One error matching `pattern` (a regular expression) is allowed."""
        self.expected.append(re.compile(pattern))

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        text = f"console.{message.type}: {message.text} ({where})"
        if message.type == "error" and _CLIENT_ERROR.match(message.text):
            self.client_errors.append(text)
        elif message.type == "error":
            self._error(text)
        elif message.type == "warning":
            self.warnings.append(text)

    def _error(self, text: str) -> None:
        for pattern in self.expected:
            if pattern.search(text):
                self.expected.remove(pattern)
                return
        self.errors.append(text)

    def assert_clean(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as tests/browser/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def axe_violations(
    page: Page, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """axe-core's violations of the page as it is now, of the given impacts
    (each: id, impact, help, nodes with their `target` selectors).

    The script is evaluated through the debugger protocol, not added as a
    <script> tag, so a page's Content-Security-Policy does not stop it."""
    npm_ci(AXE, "axe-core")
    source = (AXE / "node_modules" / "axe-core" / "axe.min.js").read_text()
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(source)
    try:
        results = await page.evaluate("async () => await window.axe.run(document)")
    except Error as error:
        raise AssertionError(f"axe-core did not run: {error}") from error
    return [v for v in results["violations"] if v["impact"] in impacts]
