"""Personal details never reach the logs: the manual flow, its refusals and
the operators' reads and decisions run with the service's JSON logging
captured, and every line (and anything else printed) is scanned."""

from __future__ import annotations

import json

import httpx
import pytest

from pourtier.di.container import Container
from tests.admin_helpers import create_admin
from tests.helpers import bearer, create_user
from tests.kyc_helpers import (
    DATE_OF_BIRTH,
    LEGAL_NAME,
    PERSON,
    approve,
    decide,
    start,
    start_manual,
    user_id,
)
from tests.logs import captured_json_logs

SECRETS = (LEGAL_NAME, DATE_OF_BIRTH, "Quillfeather", "1984-07")


async def test_personal_details_appear_in_no_log_line(
    client: httpx.AsyncClient,
    container: Container,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await create_admin(client, container)
    tokens = await create_user(client)
    target = user_id(tokens)
    with captured_json_logs() as lines:
        child = PERSON | {"date_of_birth": "2020-01-01"}
        assert (await start(client, tokens, child)).status_code == 422
        partial = {"legal_name": LEGAL_NAME, "date_of_birth": DATE_OF_BIRTH}
        assert (await start(client, tokens, partial)).status_code == 422
        await start_manual(client, tokens)
        assert (await start(client, tokens, PERSON)).status_code == 409
        record = await client.get(f"/api/admin/kyc/{target}", headers=bearer(admin))
        assert record.json()["details"] == PERSON  # operators do see them
        profile = await client.get(f"/api/admin/users/{target}", headers=bearer(admin))
        assert profile.status_code == 200, profile.text
        rejected = await decide(client, admin, tokens, "reject", "retry", "blurry")
        assert rejected.status_code == 200, rejected.text
        await start_manual(client, tokens)
        await approve(client, admin, tokens)
        audit = await client.get("/api/admin/audit", headers=bearer(admin))
        assert audit.status_code == 200
        logged = lines()
    printed = capsys.readouterr()
    messages = [line["message"] for line in logged]
    assert "kyc started" in messages  # the capture does see the service's lines
    assert any(line.get("user_id") == str(target) for line in logged)
    assert any(line.get("route") == "/api/admin/kyc/{user_id}" for line in logged)
    everything = "\n".join(
        [json.dumps(logged, ensure_ascii=False), printed.out, printed.err, caplog.text]
    )
    for secret in SECRETS:
        assert secret not in everything, secret
