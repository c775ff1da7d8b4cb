"""A blocking facade over `PourtierClient`, for scripts and notebooks.

Every coroutine method of the async client is offered here as a plain call
(`SyncPourtierClient(url, wallet).me()`), run on a private event loop, so
no method list is written twice; `run` takes any of the client's
coroutines when a checked return type is wanted.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

from pourtier.client.api import PourtierClient

T = TypeVar("T")


class SyncPourtierClient:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        # Built inside the loop it will run on (httpx binds to it lazily).
        self.client: PourtierClient = self._runner.run(self._build(*args, **kwargs))

    @staticmethod
    async def _build(*args: Any, **kwargs: Any) -> PourtierClient:
        return PourtierClient(*args, **kwargs)

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """`sync.run(sync.client.balance())`: typed as the coroutine is."""
        return self._runner.run(call)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(attribute(*args, **kwargs))

        return blocking

    def close(self) -> None:
        self._runner.run(self.client.aclose())
        self._runner.close()

    def __enter__(self) -> SyncPourtierClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


__all__ = ["SyncPourtierClient"]
