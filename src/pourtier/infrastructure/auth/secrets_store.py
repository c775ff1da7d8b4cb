"""Development JWT secret: generated once, kept in the data directory."""

from __future__ import annotations

import secrets
from pathlib import Path

from pourtier.config import Settings


def resolve_jwt_secret(settings: Settings) -> str:
    """Configured secret, else (outside production) one kept in POURTIER_DATA_DIR."""
    if settings.JWT_SECRET_KEY is not None:
        return settings.JWT_SECRET_KEY.get_secret_value()
    if settings.ENV == "production":
        raise RuntimeError("JWT_SECRET_KEY is required in production")
    path = Path(settings.POURTIER_DATA_DIR) / "jwt_secret"
    existing = path.read_text().strip() if path.exists() else ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
