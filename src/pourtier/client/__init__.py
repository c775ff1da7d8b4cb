"""A typed Python client of the Pourtier API, and the `pourtier client`
command that acts as a user's wallet (see README, "Command-line wallet")."""

from pourtier.client.api import DEFAULT_URL, PourtierClient
from pourtier.client.errors import ApiError, TransactionNotFinal
from pourtier.client.sync import SyncPourtierClient
from pourtier.client.tokens import (
    FileTokenStore,
    MemoryTokenStore,
    Tokens,
    TokenStore,
    config_directory,
)
from pourtier.client.wallet import KeypairFileError, Wallet

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "FileTokenStore",
    "KeypairFileError",
    "MemoryTokenStore",
    "PourtierClient",
    "SyncPourtierClient",
    "TokenStore",
    "Tokens",
    "TransactionNotFinal",
    "Wallet",
    "config_directory",
]
