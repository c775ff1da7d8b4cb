"""The user's key, held only by the client: it signs sign-in messages and the
escrow transactions the service prepares, and never leaves this process."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from solders.keypair import Keypair
from solders.transaction import Transaction

from pourtier.client.tokens import write_private

DEFAULT_KEYPAIR = Path("~/.config/solana/id.json")
SECRET_KEY_BYTES = 64


class KeypairFileError(ValueError):
    """A keypair file that cannot be used, said in one line."""


@dataclass(frozen=True)
class Wallet:
    keypair: Keypair = field(default_factory=Keypair)

    @property
    def address(self) -> str:
        return str(self.keypair.pubkey())

    def sign_message(self, message: str) -> str:
        """A sign-in message's UTF-8 bytes, signed: base58, as the API takes it."""
        return str(self.keypair.sign_message(message.encode("utf-8")))

    def sign_transaction(self, transaction_b64: str) -> str:
        """Sign exactly the message the service prepared (it refuses any other),
        as its fee payer; base64 in and out, as the API speaks."""
        message = Transaction.from_bytes(base64.b64decode(transaction_b64)).message
        signed = Transaction([self.keypair], message, message.recent_blockhash)
        return base64.b64encode(bytes(signed)).decode("ascii")

    @classmethod
    def from_file(cls, path: Path) -> Wallet:
        """A Solana CLI keypair file: a JSON array of the 64 secret key bytes."""
        path = path.expanduser()
        try:
            values = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise KeypairFileError(f"keypair file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise KeypairFileError(
                f"cannot read keypair file {path}: {reason}"
            ) from None
        except json.JSONDecodeError:
            raise KeypairFileError(
                f"keypair file {path} is not JSON (expected an array of "
                f"{SECRET_KEY_BYTES} numbers, as `solana-keygen new` writes)"
            ) from None
        if not (
            isinstance(values, list)
            and len(values) == SECRET_KEY_BYTES
            and all(type(v) is int and 0 <= v <= 255 for v in values)
        ):
            raise KeypairFileError(
                f"keypair file {path} must hold a JSON array of {SECRET_KEY_BYTES} "
                "numbers from 0 to 255"
            )
        try:
            keypair = Keypair.from_bytes(bytes(values))
        except ValueError:
            raise KeypairFileError(
                f"keypair file {path}: its public key does not match its secret key"
            ) from None
        return cls(keypair)

    def to_file(self, path: Path) -> None:
        """Write the Solana CLI format (tests and first-time set-ups); 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(list(bytes(self.keypair))).encode("ascii")
        write_private(path, data)
