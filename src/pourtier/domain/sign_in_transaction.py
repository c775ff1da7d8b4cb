"""Sign-in by transaction, for wallets that cannot sign messages (Ledger).

The Ledger Solana app signs transactions, and off-chain messages only on
recent firmware; many wallets in front of a Ledger offer only
`signTransaction`. So the service issues a transaction that carries the
sign-in text and can never run:

- one signature, the wallet's, which is also the fee payer;
- one instruction, to the Memo program (v2), with the text as its data and the
  wallet as its one account, so the memo program would insist it signed;
- the all-zero blockhash (`Hash::default()`), which is never a recent
  blockhash of any cluster: every node refuses the transaction as
  `BlockhashNotFound`, so a signed sign-in can never be broadcast to spend
  a lamport.

The wallet signs the transaction's message; the service verifies that
signature over the message bytes, reads the text from the memo and checks it
as any sign-in text. A transaction is read only in exactly the shape issued:
any other byte (a second instruction, a real blockhash, another program) is
refused, naming what differs. The legacy wire format is small enough to write
and read here, without a Solana library in the domain.
"""

from __future__ import annotations

from pourtier.domain.base58 import b58decode
from pourtier.domain.errors import AuthenticationFailed

MEMO_PROGRAM_ID = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
SIGN_IN_BLOCKHASH = bytes(32)
"""All zeros: no cluster ever accepts it (see the module's docstring)."""
MAX_TRANSACTION_BYTES = 1232
"""The packet size every Solana transaction must fit in."""
SIGNATURE_BYTES = 64
# Legacy message header: one required signature (the wallet, writable as fee
# payer), no read-only signed account, one read-only unsigned (the program).
_HEADER = bytes([1, 0, 1])
_MEMO = b58decode(MEMO_PROGRAM_ID)


def _refuse(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed("transaction", reason)


def _shortvec(value: int) -> bytes:
    """Solana's compact-u16: 7 bits a byte, low first, high bit = more."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_shortvec(data: bytes, at: int) -> tuple[int, int]:
    """The value at `at` and where the next field begins."""
    value = 0
    for shift, index in enumerate(range(at, min(at + 3, len(data)))):
        byte = data[index]
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value, index + 1
    raise _refuse("transaction is truncated")


def sign_in_message_bytes(wallet_key: bytes, text: str) -> bytes:
    """The transaction message the wallet signs for `text`."""
    data = text.encode("utf-8")
    return b"".join(
        [
            _HEADER,
            _shortvec(2),
            wallet_key,
            _MEMO,
            SIGN_IN_BLOCKHASH,
            _shortvec(1),  # one instruction:
            bytes([1]),  # the Memo program (account 1),
            _shortvec(1) + bytes([0]),  # the wallet (account 0) as its signer,
            _shortvec(len(data)) + data,  # the text as its data
        ]
    )


def unsigned_sign_in_transaction(wallet_address: str, text: str) -> bytes:
    """The wire transaction the wallet is asked to sign: signature zeroed."""
    return (
        _shortvec(1)
        + bytes(SIGNATURE_BYTES)
        + sign_in_message_bytes(b58decode(wallet_address), text)
    )


def open_sign_in_transaction(
    wallet_address: str, raw: bytes
) -> tuple[bytes, str, bytes]:
    """The signed message bytes, the memo's text and the wallet's signature.

    Checked field by field, so a refusal names what is not as issued; the
    signature itself is verified by the caller, over the message bytes.
    """
    if len(raw) > MAX_TRANSACTION_BYTES:
        raise _refuse(f"transaction exceeds {MAX_TRANSACTION_BYTES} bytes")
    count, at = _read_shortvec(raw, 0)
    if count != 1:
        raise _refuse("transaction must carry exactly one signature, the wallet's")
    signature = raw[at : at + SIGNATURE_BYTES]
    message = raw[at + SIGNATURE_BYTES :]
    if len(signature) != SIGNATURE_BYTES:
        raise _refuse("transaction is truncated")
    if message[:1] and message[0] & 0x80:
        raise _refuse("transaction must be a legacy transaction, as issued")
    if message[:3] != _HEADER:
        raise _refuse("transaction header is not a sign-in transaction's")
    keys_count, at = _read_shortvec(message, 3)
    keys = message[at : at + 32 * keys_count]
    if keys_count != 2 or len(keys) != 64:
        raise _refuse("transaction must name the wallet and the Memo program only")
    if keys[:32] != b58decode(wallet_address):
        raise _refuse("transaction's fee payer is not this wallet")
    if keys[32:] != _MEMO:
        raise _refuse("transaction's program is not the Memo program")
    at += 64
    if message[at : at + 32] != SIGN_IN_BLOCKHASH:
        raise _refuse("transaction's blockhash is not the sign-in blockhash")
    at += 32
    instruction = b"".join([_shortvec(1), bytes([1]), _shortvec(1), bytes([0])])
    if message[at : at + len(instruction)] != instruction:
        raise _refuse("transaction must hold one Memo instruction signed by the wallet")
    length, at = _read_shortvec(message, at + len(instruction))
    data = message[at:]
    if len(data) != length:
        raise _refuse("memo length does not match the transaction")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("memo is not valid UTF-8") from None
    return message, text, signature
