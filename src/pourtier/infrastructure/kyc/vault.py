"""Personal details encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key is `KYC_ENCRYPTION_KEY`; outside production, without one, a key is
generated once into the data directory and shared by every process using it
(created with an exclusive link, so two processes starting together cannot
each keep a key of their own and lose the other's data).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import date
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from pourtier.domain.errors import ServiceUnavailable
from pourtier.domain.kyc import PersonalDetails

KEY_FILE = "kyc.key"


class FernetVault:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, details: PersonalDetails) -> bytes:
        return self._fernet.encrypt(json.dumps(details.to_json()).encode())

    def open(self, sealed: bytes) -> PersonalDetails:
        try:
            data = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken:
            raise ServiceUnavailable(
                "personal details cannot be decrypted with this KYC_ENCRYPTION_KEY"
            ) from None
        return PersonalDetails(
            data["legal_name"],
            date.fromisoformat(data["date_of_birth"]),
            data["country"],
        )


def load_or_create_key(data_dir: Path) -> bytes:
    """The data directory's key, made on first use by exactly one process."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".kyc-key-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(Fernet.generate_key())
            os.chmod(tmp, 0o600)
            with contextlib.suppress(FileExistsError):  # another process was first
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_bytes().strip()
