"""Domain errors, grouped by what the caller did wrong.

Each class names a category; the presentation layer maps categories to HTTP
statuses in one place, so use cases never think in status codes.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol, TypeVar


class DomainError(Exception):
    """Base for every error a caller may see; `detail` is safe to show them."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, Any]:
        """Fields added beside `detail` in the error body."""
        return {}


class InvalidInput(DomainError):
    """The request is well-formed but its values break a business rule."""


class AuthenticationFailed(DomainError):
    """Identity could not be established; `check` names the failed check."""

    def __init__(self, check: str, reason: str | None = None) -> None:
        super().__init__(f"{check} check failed: {reason or 'refused'}")
        self.check = check

    def extra(self) -> dict[str, Any]:
        return {"check": self.check}


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class ComplianceRequired(PermissionDenied):
    """Active legal documents must be accepted before business endpoints."""

    def __init__(self, pending_documents: list[dict[str, Any]]) -> None:
        super().__init__("accept the pending legal documents to continue")
        self.pending_documents = pending_documents

    def extra(self) -> dict[str, Any]:
        return {"pending_documents": self.pending_documents}


class NotFound(DomainError):
    """The thing does not exist, or exists but is not the caller's to see."""


class Owned(Protocol):
    @property
    def user_id(self) -> uuid.UUID: ...


Thing = TypeVar("Thing", bound=Owned)


def owned(found: Thing | None, user_id: uuid.UUID, what: str) -> Thing:
    """`found` if it is the user's; another user's answers like an unknown one,
    so ids cannot be probed."""
    if found is None or found.user_id != user_id:
        raise NotFound(f"{what} not found")
    return found


class Conflict(DomainError):
    """The request collides with the current state (duplicate, already done)."""


class UpstreamRefused(DomainError):
    """A service we depend on refused our call for a reason on our side
    (configuration): neither the user's fault nor fixed by retrying."""


class ServiceUnavailable(DomainError):
    """A dependency the request needs is down; retrying later may work."""
