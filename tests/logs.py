"""Capture the service's JSON log lines in memory, for assertions."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from pourtier.infrastructure.monitoring import logging as pourtier_logging
from pourtier.infrastructure.monitoring.logging import configure_logging

LogLines = Callable[[], list[dict[str, Any]]]


@contextmanager
def captured_json_logs() -> Iterator[LogLines]:
    """The service's JSON logging, with its lines also kept in memory."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_structlog = structlog.get_config()
    saved_configured = pourtier_logging._configured
    pourtier_logging._configured = False
    configure_logging("INFO")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    try:
        yield lines
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
        pourtier_logging._configured = saved_configured
