"""The sign-in transaction for wallets that only sign transactions.

What the service builds is checked against solders (Solana's own types): the
same message bytes as a Memo instruction built the usual way, with the
all-zero blockhash. Every tampered transaction is refused naming what differs.
"""

from __future__ import annotations

import base64

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.sign_in_proof import SignedTransaction
from pourtier.domain.sign_in_transaction import (
    MAX_TRANSACTION_BYTES,
    MEMO_PROGRAM_ID,
    open_sign_in_transaction,
    sign_in_message_bytes,
    unsigned_sign_in_transaction,
)

MEMO = Pubkey.from_string(MEMO_PROGRAM_ID)
# Long enough that the memo's length takes two bytes of compact-u16.
TEXT = "example.com wants you to sign in with your Solana account:\n" + "x" * 300


def memo(wallet: Pubkey, data: bytes) -> Instruction:
    return Instruction(
        MEMO, data, [AccountMeta(wallet, is_signer=True, is_writable=True)]
    )


def signed(keypair: Keypair, message: Message) -> bytes:
    return bytes(Transaction([keypair], message, message.recent_blockhash))


def stock(
    keypair: Keypair, *instructions: Instruction, blockhash: Hash = Hash.default()
) -> bytes:
    """A transaction built the usual way, with solders, and signed."""
    message = Message.new_with_blockhash(
        list(instructions), keypair.pubkey(), blockhash
    )
    return signed(keypair, message)


def refused(wallet: str, raw: bytes, reason: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        open_sign_in_transaction(wallet, raw)
    assert caught.value.check == "transaction"
    assert reason in str(caught.value)


def test_the_message_is_a_memo_instruction_as_solders_builds_it() -> None:
    wallet = Keypair().pubkey()
    expected = Message.new_with_blockhash(
        [memo(wallet, TEXT.encode())], wallet, Hash.default()
    )
    assert sign_in_message_bytes(bytes(wallet), TEXT) == bytes(expected)


def test_the_unsigned_transaction_reads_as_one_for_the_wallet() -> None:
    wallet = Keypair().pubkey()
    parsed = Transaction.from_bytes(unsigned_sign_in_transaction(str(wallet), TEXT))
    assert parsed.message.account_keys == [wallet, MEMO]
    assert parsed.message.recent_blockhash == Hash.default()
    assert [bytes(i.data) for i in parsed.message.instructions] == [TEXT.encode()]
    assert parsed.signatures[0] == parsed.signatures[0].default()


def test_a_signed_transaction_opens_to_message_text_and_signature() -> None:
    keypair = Keypair()
    raw = stock(keypair, memo(keypair.pubkey(), TEXT.encode()))
    message, text, signature = open_sign_in_transaction(str(keypair.pubkey()), raw)
    assert text == TEXT
    assert keypair.sign_message(message) == Transaction.from_bytes(raw).signatures[0]
    assert signature == bytes(Transaction.from_bytes(raw).signatures[0])
    opened = SignedTransaction(
        str(keypair.pubkey()), base64.b64encode(raw).decode()
    ).opened()
    assert (opened.signed, opened.text) == (message, TEXT)


def test_another_wallet_as_fee_payer_is_refused() -> None:
    keypair = Keypair()
    raw = stock(keypair, memo(keypair.pubkey(), TEXT.encode()))
    refused(str(Keypair().pubkey()), raw, "fee payer is not this wallet")


def test_a_real_blockhash_is_refused() -> None:
    keypair = Keypair()
    raw = stock(keypair, memo(keypair.pubkey(), b"x"), blockhash=Hash.new_unique())
    refused(str(keypair.pubkey()), raw, "blockhash is not the sign-in blockhash")


def test_another_program_is_refused() -> None:
    keypair = Keypair()
    other = Instruction(Pubkey.new_unique(), TEXT.encode(), [])
    raw = stock(keypair, other)
    refused(str(keypair.pubkey()), raw, "program is not the Memo program")


def test_a_second_instruction_is_refused() -> None:
    keypair = Keypair()
    instruction = memo(keypair.pubkey(), TEXT.encode())
    raw = stock(keypair, instruction, instruction)
    refused(str(keypair.pubkey()), raw, "one Memo instruction signed by the wallet")


def test_a_memo_without_the_wallet_as_signer_is_refused() -> None:
    keypair = Keypair()
    raw = stock(keypair, Instruction(MEMO, TEXT.encode(), []))
    refused(str(keypair.pubkey()), raw, "one Memo instruction signed by the wallet")


def test_a_second_signer_is_refused() -> None:
    keypair, other = Keypair(), Keypair()
    instruction = Instruction(
        MEMO,
        b"x",
        [
            AccountMeta(keypair.pubkey(), is_signer=True, is_writable=True),
            AccountMeta(other.pubkey(), is_signer=True, is_writable=False),
        ],
    )
    message = Message.new_with_blockhash(
        [instruction], keypair.pubkey(), Hash.default()
    )
    raw = bytes(Transaction([keypair, other], message, Hash.default()))
    refused(str(keypair.pubkey()), raw, "exactly one signature")


def test_a_version_0_message_is_refused() -> None:
    keypair = Keypair()
    raw = bytearray(unsigned_sign_in_transaction(str(keypair.pubkey()), TEXT))
    raw[65] |= 0x80
    refused(str(keypair.pubkey()), bytes(raw), "legacy transaction")


def test_trailing_or_missing_memo_bytes_are_refused() -> None:
    keypair = Keypair()
    raw = unsigned_sign_in_transaction(str(keypair.pubkey()), TEXT)
    refused(str(keypair.pubkey()), raw + b"!", "memo length does not match")
    refused(str(keypair.pubkey()), raw[:-1], "memo length does not match")


def test_a_memo_that_is_not_utf8_is_refused() -> None:
    keypair = Keypair()
    raw = stock(keypair, memo(keypair.pubkey(), b"\xff\xfe"))
    refused(str(keypair.pubkey()), raw, "not valid UTF-8")


@pytest.mark.parametrize("cut", [0, 1, 30, 66, 100])
def test_a_truncated_transaction_is_refused(cut: int) -> None:
    keypair = Keypair()
    raw = unsigned_sign_in_transaction(str(keypair.pubkey()), TEXT)
    with pytest.raises(AuthenticationFailed) as caught:
        open_sign_in_transaction(str(keypair.pubkey()), raw[:cut])
    assert caught.value.check == "transaction"


def test_an_oversized_transaction_is_refused() -> None:
    wallet = str(Keypair().pubkey())
    raw = unsigned_sign_in_transaction(wallet, "x" * MAX_TRANSACTION_BYTES)
    refused(wallet, raw, f"exceeds {MAX_TRANSACTION_BYTES} bytes")


def test_non_canonical_base64_is_refused() -> None:
    wallet = str(Keypair().pubkey())
    with pytest.raises(AuthenticationFailed) as caught:
        SignedTransaction(wallet, "AAAA=").opened()
    assert caught.value.check == "transaction"
