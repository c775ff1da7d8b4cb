"""Reading what the use cases told: outbox events and notifications."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from pourtier.di.container import Container


async def events_about(container: Container, user_id: object) -> list[dict[str, Any]]:
    """Every event whose data names the user, in the order they were written
    (per subject: by sequence)."""
    async with container.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT type, subject_type, subject_id, sequence, data "
                "FROM outbox_events WHERE data->>'user_id' = :u "
                "ORDER BY occurred_at, subject_type, subject_id, sequence"
            ),
            {"u": str(user_id)},
        )
        return [dict(row._mapping) for row in rows]


async def types_about(container: Container, user_id: object) -> list[str]:
    return [e["type"] for e in await events_about(container, user_id)]


async def the_event(container: Container, user_id: object, type: str) -> dict[str, Any]:
    """The one event of `type` about the user (fails if not exactly one)."""
    found = [e for e in await events_about(container, user_id) if e["type"] == type]
    assert len(found) == 1, (type, found)
    return found[0]


async def notification_kinds(container: Container, user_id: object) -> list[str]:
    async with container.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT kind FROM notifications WHERE user_id = :u "
                "ORDER BY created_at, kind"
            ),
            {"u": user_id},
        )
        return [row.kind for row in rows]
