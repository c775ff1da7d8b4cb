"""An event receiver for tests: real HTTP on 127.0.0.1, in a thread.

It stands for a webhook consumer or Courier: every POST is recorded (path,
headers, body) and answered `status` (200 unless a test says otherwise), after
`delay`. With `hold` set, requests wait (counted in `waiting`) until it is
cleared: a sender can be killed while its requests are in flight.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.threaded import ThreadedServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self._released = threading.Event()
        self._released.set()
        self.delay = 0.0
        self.waiting = 0
        self.received: list[Received] = []
        self.url = ""
        self._lock = threading.Lock()
        self._served: ThreadedServer | None = None
        self.app = Starlette(
            routes=[Route("/{path:path}", self._receive, methods=["POST"])]
        )

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold:
            with self._lock:
                self.waiting += 1
            await asyncio.to_thread(self._released.wait)
            with self._lock:
                self.waiting -= 1
        status = self.status
        with self._lock:
            self.received.append(
                Received(request.url.path, dict(request.headers), body, status)
            )
        return Response(status_code=status)

    @property
    def hold(self) -> bool:
        return not self._released.is_set()

    @hold.setter
    def hold(self, value: bool) -> None:
        if value:
            self._released.clear()
        else:
            self._released.set()

    def accepted(self) -> list[Received]:
        """What it answered 2xx to, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def start(self) -> None:
        self._served = ThreadedServer(self.app, "the test receiver")
        self.url = self._served.start()

    def stop(self) -> None:
        self.hold = False
        if self._served is not None:
            self._served.stop()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
