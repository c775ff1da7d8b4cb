"""What a client call raises besides transport errors (httpx.TransportError)."""

from __future__ import annotations

from typing import Any

import httpx

from pourtier.presentation.schemas.escrow import TransactionOut


class ApiError(Exception):
    """The service refused: its status and its `detail`, as one line."""

    def __init__(self, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            return cls(response.status_code, response.text or response.reason_phrase)
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, list):  # a 422: each field and what is wrong
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}"
                for e in detail
                if isinstance(e, dict)
            )
        return cls(response.status_code, str(detail or response.reason_phrase), body)


class TransactionNotFinal(Exception):
    """Still pending when the client stopped waiting: it may yet settle."""

    def __init__(self, transaction: TransactionOut) -> None:
        super().__init__(f"transaction {transaction.id} is still {transaction.status}")
        self.transaction = transaction


class TransactionFailed(Exception):
    """Final, but not confirmed: failed on chain, or expired unsigned/unlanded."""

    def __init__(self, transaction: TransactionOut) -> None:
        reason = f": {transaction.error}" if transaction.error else ""
        super().__init__(f"transaction {transaction.id} {transaction.status}{reason}")
        self.transaction = transaction
