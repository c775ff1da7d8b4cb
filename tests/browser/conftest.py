"""Fixtures of the browser tests: one Chromium per test process, a fresh
context and page per test whose console must stay free of errors, the test
wallet, and `pourtier serve` with its workers to point the page at: one per
test process for this package, as starting one takes seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, Playwright, async_playwright

from pourtier.di.container import Container
from tests.support.browser import ConsoleLog, launch_chromium
from tests.support.db import fetch
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


FRESH_WITHIN_SECONDS = 10.0
ACTIVE_DOCUMENTS = "SELECT id FROM legal_documents WHERE status = 'active'"


@pytest.fixture(scope="package")
async def served(
    container: Container, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """`pourtier serve` with its workers on the test database, for the browser
    tests of this process, which come one after another (pytest-xdist hands
    out the first tests, these, in turn): stopped before any other test, so
    its workers never take up another test's rows."""
    directory = tmp_path_factory.mktemp("serve")
    async with serving_with_workers("serve", database_url, directory) as started:
        yield started


@pytest.fixture
async def app_server(served: Server, container: Container) -> Server:
    """The served app, once it has forgotten what the previous test left.

    `clean_state` has emptied the tables, whose triggers NOTIFY the served
    process of every cached row deleted (migration 0003); it has no other
    state a test could see. Every cached value but one is keyed by an id no
    later test has (users, sessions); the one shared key is the active legal
    documents, reseeded with new ids. Once the server answers with those ids,
    it has applied their notifications (or loaded after them): nothing older
    can be stored again, as a load begun before an invalidation never stores
    its value."""
    expected = sorted(str(row.id) for row in await fetch(container, ACTIVE_DOCUMENTS))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FRESH_WITHIN_SECONDS
    while True:
        response = await served.client.get("/api/legal/documents")
        response.raise_for_status()
        if sorted(document["id"] for document in response.json()) == expected:
            return served
        assert loop.time() < deadline, "the served app kept stale legal documents"
        await asyncio.sleep(0.02)
