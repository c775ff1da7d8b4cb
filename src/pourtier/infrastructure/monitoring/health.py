"""Readiness checks for the parts a request may need."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

CHECK_TIMEOUT_SECONDS = 2.0
Check = Callable[[], Awaitable[str]]


@dataclass
class HealthReport:
    checks: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return [n for n, c in self.checks.items() if c["status"] != "ok"]


def database_check(engine: AsyncEngine) -> Check:
    async def check() -> str:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return "postgresql"

    return check


def redis_check(redis: Redis | None) -> Check:
    async def check() -> str:
        if redis is None:
            return "memory"
        await redis.ping()
        return "redis"

    return check


async def run_checks(checks: dict[str, Check]) -> HealthReport:
    async def one(check: Check) -> dict[str, str]:
        try:
            backend = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except Exception as error:
            return {"status": "error", "detail": type(error).__name__}
        return {"status": "ok", "backend": backend}

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    return HealthReport(dict(zip(names, results, strict=True)))
