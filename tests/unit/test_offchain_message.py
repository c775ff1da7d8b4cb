"""Solana off-chain message envelopes built byte by byte: both version-0
layouts read, and every malformed one refused naming the message format."""

from __future__ import annotations

import pytest

from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.offchain import (
    MAX_ENVELOPE_BYTES,
    OffchainMessage,
    parse_offchain,
)
from tests.helpers import full_envelope, legacy_envelope

TEXT = "example.com wants you to sign in with your Solana account:\nAbc"
KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def refused(signed: bytes, reason: str, check: str = "message_format") -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        OffchainMessage.parse(signed)
    assert caught.value.check == check
    assert reason in str(caught.value)


def test_the_legacy_layout_yields_its_text() -> None:
    signed = legacy_envelope(TEXT)
    assert signed[:20] == b"\xffsolana offchain\x00\x01" + bytes([len(TEXT), 0])
    parsed = OffchainMessage.parse(signed)
    assert parsed == OffchainMessage(TEXT, 1)
    assert parse_offchain(signed) == TEXT


def test_the_full_layout_yields_its_text_domain_and_signers() -> None:
    domain = b"D" * 32
    signed = full_envelope(TEXT, [KEY, OTHER], domain)
    assert len(signed) == 16 + 1 + 32 + 1 + 1 + 64 + 2 + len(TEXT)
    parsed = OffchainMessage.parse(signed)
    assert parsed == OffchainMessage(TEXT, 1, domain, (KEY, OTHER))


def test_a_ledger_style_zero_application_domain_is_read_as_the_full_layout() -> None:
    parsed = OffchainMessage.parse(full_envelope(TEXT, [KEY]))
    assert parsed.application_domain == bytes(32)
    assert parsed.signers == (KEY,)


def test_restricted_ascii_is_accepted_when_printable() -> None:
    assert OffchainMessage.parse(legacy_envelope("hello there", 0)).text == (
        "hello there"
    )


def test_utf8_text_is_accepted_in_the_limited_utf8_format() -> None:
    assert OffchainMessage.parse(legacy_envelope("héllo\nwörld")).text == (
        "héllo\nwörld"
    )


@pytest.mark.parametrize(
    "signed",
    [
        b"",
        b"solana offchain\x00\x01\x01\x00a",
        b"\xfesolana offchain\x00\x01\x01\x00a",
        b"\xffsolana offchaim\x00\x01\x01\x00a",
        b"hello",
    ],
)
def test_a_wrong_signing_domain_is_refused(signed: bytes) -> None:
    refused(signed, "signing domain")


@pytest.mark.parametrize("version", [1, 2, 0xFF])
def test_an_unknown_header_version_is_refused(version: int) -> None:
    signed = bytearray(legacy_envelope(TEXT))
    signed[16] = version
    refused(bytes(signed), "header version must be 0")


def test_a_bare_signing_domain_is_refused() -> None:
    refused(b"\xffsolana offchain", "header version must be 0")


@pytest.mark.parametrize("delta", [-1, 1, 300])
def test_a_legacy_length_that_does_not_match_is_refused(delta: int) -> None:
    signed = bytearray(legacy_envelope(TEXT))
    signed[18:20] = (len(TEXT) + delta).to_bytes(2, "little")
    refused(bytes(signed), "does not match its length")


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_full_length_that_does_not_match_is_refused(delta: int) -> None:
    signed = bytearray(full_envelope(TEXT, [KEY]))
    signed[83:85] = (len(TEXT) + delta).to_bytes(2, "little")
    refused(bytes(signed), "does not match its length")


@pytest.mark.parametrize(
    "signed",
    [legacy_envelope(TEXT) + b"\x00", full_envelope(TEXT, [KEY]) + b"x"],
    ids=["legacy", "full"],
)
def test_trailing_bytes_are_refused(signed: bytes) -> None:
    refused(signed, "does not match its length")


def test_a_signer_count_that_does_not_match_is_refused() -> None:
    signed = bytearray(full_envelope(TEXT, [KEY, OTHER]))
    signed[50] = 1
    refused(bytes(signed), "does not match its length")


def test_no_signers_is_refused() -> None:
    refused(full_envelope(TEXT, []), "does not match its length")


@pytest.mark.parametrize(
    "signed",
    [legacy_envelope(""), full_envelope("", [KEY])],
    ids=["legacy", "full"],
)
def test_an_empty_message_is_refused(signed: bytes) -> None:
    refused(signed, "does not match its length")


@pytest.mark.parametrize("message_format", [2, 3, 0xFF])
def test_formats_other_than_ascii_and_limited_utf8_are_refused(
    message_format: int,
) -> None:
    refused(legacy_envelope(TEXT, message_format), "format must be 0 or 1")
    refused(full_envelope(TEXT, [KEY], message_format=message_format), "format")


@pytest.mark.parametrize("text", ["line\nbreak", "tab\there", "é", "\x7f"])
def test_restricted_ascii_refuses_anything_unprintable(text: str) -> None:
    refused(legacy_envelope(text, 0), "not restricted ASCII")


def test_invalid_utf8_is_refused() -> None:
    body = b"\xc3\x28"
    signed = b"\xffsolana offchain\x00\x01\x02\x00" + body
    refused(signed, "not valid UTF-8")


def test_an_envelope_over_one_packet_is_refused() -> None:
    text = "a" * (MAX_ENVELOPE_BYTES - 20)
    assert len(OffchainMessage.parse(legacy_envelope(text)).text) == len(text)
    refused(legacy_envelope(text + "a"), f"exceeds {MAX_ENVELOPE_BYTES} bytes")


def test_an_envelope_both_layouts_fit_is_refused_as_ambiguous() -> None:
    """An application domain whose first bytes read as a legacy format and a
    length covering the rest: contrived, and refused rather than guessed."""
    rest = 32 - 3 + 1 + 1 + 32 + 2 + len(TEXT)
    domain = bytes([1]) + rest.to_bytes(2, "little") + b"a" * 29
    signers = [b"b" * 32]
    refused(full_envelope(TEXT, signers, domain), "ambiguous")


def test_the_signer_list_must_name_the_wallet() -> None:
    OffchainMessage.parse(full_envelope(TEXT, [OTHER, KEY])).check_signer(KEY)
    with pytest.raises(AuthenticationFailed) as caught:
        OffchainMessage.parse(full_envelope(TEXT, [OTHER])).check_signer(KEY)
    assert caught.value.check == "signer"


def test_the_legacy_layout_has_no_signer_list_to_check() -> None:
    OffchainMessage.parse(legacy_envelope(TEXT)).check_signer(KEY)
