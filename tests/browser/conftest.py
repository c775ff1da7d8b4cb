"""Fixtures of the browser tests: one Chromium per test process, a fresh
context and page per test whose console must stay free of errors, the test
wallet, and `pourtier serve` with its workers to point the page at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from pourtier.di.container import Container
from tests.support.browser import ConsoleLog, launch_chromium
from tests.support.servers import Server, serving_with_workers
from tests.support.test_wallet import TestWallet


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as started:
        yield started


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    launched = await launch_chromium(playwright)
    yield launched
    await launched.close()


@pytest.fixture
def page_log() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
async def page(browser: Browser, page_log: ConsoleLog) -> AsyncIterator[Page]:
    """A page in a context of its own (no cookies or storage from another
    test); the test fails at teardown if the page logged an error."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    page_log.watch(opened)
    yield opened
    await context.close()
    page_log.assert_clean()


@pytest.fixture
async def test_wallet(page: Page) -> TestWallet:
    """The test wallet with every feature, registered in `page` (before any
    `goto`). For other features, install a `TestWallet(features=...)`."""
    wallet = TestWallet()
    await wallet.install(page)
    return wallet


@pytest.fixture
async def app_server(
    container: Container, database_url: str, tmp_path: Path
) -> AsyncIterator[Server]:
    """`pourtier serve` with its workers, on the test database (`container`
    migrates and cleans it); the page goes to `app_server.url`."""
    async with serving_with_workers("serve", database_url, tmp_path) as started:
        yield started
