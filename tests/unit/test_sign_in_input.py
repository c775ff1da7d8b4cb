"""The Wallet Standard sign-in grammar, the proof of a `signIn` output and
unbound nonces: pure, no I/O."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from solders.keypair import Keypair

from pourtier.domain.base58 import b58encode
from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.sign_in import NONCE_TTL, Nonce, SignInMessage, SignInPolicy
from pourtier.domain.sign_in_input import HEADER_SUFFIX, LABELS, SignInInput
from pourtier.domain.sign_in_proof import WalletStandardOutput
from tests.helpers import legacy_envelope

ADDRESS = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
OTHER = "11111111111111111111111111111111"
NOW = datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
POLICY = SignInPolicy(domain="app.pourtier.test", uri="https://app", chain_id="devnet")
FULL = SignInInput(
    domain="app.pourtier.test",
    address=ADDRESS,
    statement="Sign in.",
    uri="https://app",
    version="1",
    chain_id="devnet",
    nonce="abcdefgh1234",
    issued_at="2025-03-14T15:09:26.535Z",
    expiration_time="2025-03-14T15:14:26.535Z",
    not_before="2025-03-14T15:09:00.000Z",
    request_id="req-7",
    resources=("https://a.example", "ipfs://b"),
)
FULL_TEXT = "\n".join(
    [
        f"app.pourtier.test{HEADER_SUFFIX}",
        ADDRESS,
        "",
        "Sign in.",
        "",
        "URI: https://app",
        "Version: 1",
        "Chain ID: devnet",
        "Nonce: abcdefgh1234",
        "Issued At: 2025-03-14T15:09:26.535Z",
        "Expiration Time: 2025-03-14T15:14:26.535Z",
        "Not Before: 2025-03-14T15:09:00.000Z",
        "Request ID: req-7",
        "Resources:",
        "- https://a.example",
        "- ipfs://b",
    ]
)
OPTIONAL = [*LABELS, "statement", "resources"]


def absent(name: str) -> dict[str, Any]:
    return {name: None}


def refusal(text: str, parse: Any = SignInInput.parse) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        parse(text)
    assert failure.value.check == "message_format"
    return failure.value.detail.removeprefix("message_format check failed: ")


def test_every_field_renders_in_the_reference_layout_and_reads_back() -> None:
    assert FULL.render() == FULL_TEXT
    assert SignInInput.parse(FULL_TEXT) == FULL


@pytest.mark.parametrize("name", OPTIONAL)
def test_each_optional_field_may_be_left_out(name: str) -> None:
    without = dataclasses.replace(FULL, **absent(name))
    text = without.render()
    assert len(text.split("\n")) < len(FULL_TEXT.split("\n"))
    assert SignInInput.parse(text) == without


@pytest.mark.parametrize(
    ("kept", "lines"),
    [
        ({}, []),
        ({"statement": "Hi"}, ["", "Hi"]),
        ({"nonce": "abcdefgh"}, ["", "Nonce: abcdefgh"]),
        ({"resources": ()}, ["", "Resources:"]),
        ({"statement": "Hi", "version": "1"}, ["", "Hi", "", "Version: 1"]),
    ],
)
def test_sections_appear_only_when_they_have_something(
    kept: dict[str, Any], lines: list[str]
) -> None:
    sparse = SignInInput(domain="d", address=ADDRESS, **kept)
    text = "\n".join([f"d{HEADER_SUFFIX}", ADDRESS, *lines])
    assert sparse.render() == text
    assert SignInInput.parse(text) == sparse


def test_a_statement_shaped_like_a_field_is_a_field_when_nothing_follows() -> None:
    """As the reference parser reads it; with fields after, it is a statement."""
    text = "\n".join([f"d{HEADER_SUFFIX}", ADDRESS, "", "Version: 1"])
    assert SignInInput.parse(text).statement is None
    with_fields = text + "\n\nNonce: abcdefgh"
    assert SignInInput.parse(with_fields).statement == "Version: 1"


def _swap(text: str, a: int, b: int) -> str:
    lines = text.split("\n")
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (_swap(FULL_TEXT, 5, 6), "'URI' is out of order or repeated"),
        (_swap(FULL_TEXT, 8, 12), "'Issued At' is out of order or repeated"),
        (FULL_TEXT.replace("Version: 1", "Version: 1\nVersion: 1"), "'Version' is"),
        (FULL_TEXT.replace("URI: ", "Url: "), "unexpected line in the message"),
        (FULL_TEXT.replace("Version: 1", "Colour: blue"), "unexpected line"),
        (FULL_TEXT.replace("URI: https://app", "URI:https://app"), "unexpected line"),
        (FULL_TEXT.replace("- ipfs://b", "ipfs://b"), "each resource must be"),
        (FULL_TEXT + "\nNonce: abcdefgh", "each resource must be"),
        (FULL_TEXT + "\n", "each resource must be"),
        (FULL_TEXT.replace("\n\nURI", "\nURI"), "unexpected line in the message"),
        (f"d{HEADER_SUFFIX}\n{ADDRESS}\n", "a blank line ends the message"),
        (f"d{HEADER_SUFFIX}\n{ADDRESS}\n\nHi\n", "a blank line ends the message"),
        (f"d{HEADER_SUFFIX}\n{ADDRESS}\n\n", "unexpected line in the message"),
        (f"d{HEADER_SUFFIX}\n{ADDRESS}\nHi", "expected a blank line after the"),
        (f"d wants you to sign in:\n{ADDRESS}", "missing SIWS header line"),
        (f"d{HEADER_SUFFIX}", "message layout is not SIWS"),
    ],
)
def test_the_grammar_is_strict(text: str, detail: str) -> None:
    assert refusal(text).startswith(detail)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("not_before", "message has 'Not Before', which this server never issues"),
        ("request_id", "message has 'Request ID', which this server never issues"),
        ("resources", "message has 'Resources:', which this server never issues"),
    ],
)
def test_a_message_may_not_carry_a_field_we_never_issue(name: str, detail: str) -> None:
    issued = POLICY.message_for(ADDRESS, "abcdefgh1234", NOW).as_input()
    extra = dataclasses.replace(issued, **{name: getattr(FULL, name)})
    assert refusal(extra.render(), SignInMessage.parse) == detail


@pytest.mark.parametrize(
    "name", ["statement", "uri", "version", "chain_id", "nonce", "issued_at"]
)
def test_a_message_must_carry_every_field_we_issue(name: str) -> None:
    issued = POLICY.message_for(ADDRESS, "abcdefgh1234", NOW).as_input()
    label = (LABELS | {"statement": "statement"})[name]
    text = dataclasses.replace(issued, **absent(name)).render()
    assert refusal(text, SignInMessage.parse) == f"message has no '{label}'"


def test_the_input_for_a_nonce_has_the_address_only_when_bound() -> None:
    bound = Nonce("abcdefgh1234", ADDRESS, NOW, NOW + NONCE_TTL)
    unbound = dataclasses.replace(bound, wallet_address=None)
    message = POLICY.message_for(ADDRESS, "abcdefgh1234", NOW)
    assert POLICY.input_for(bound).render() == message.render()
    assert POLICY.input_for(unbound).address is None
    assert dataclasses.replace(POLICY.input_for(unbound), address=ADDRESS) == (
        POLICY.input_for(bound)
    )
    with pytest.raises(ValueError, match="address"):
        POLICY.input_for(unbound).render()


def test_an_unbound_nonce_is_usable_by_any_wallet_until_used() -> None:
    nonce = Nonce("abcdefgh1234", None, NOW, NOW + NONCE_TTL)
    nonce.check_usable(ADDRESS, NOW)
    nonce.check_usable(OTHER, NOW)
    used = dataclasses.replace(nonce, wallet_address=ADDRESS, consumed_at=NOW)
    for wallet in (ADDRESS, OTHER):
        with pytest.raises(AuthenticationFailed, match="already been used"):
            used.check_usable(wallet, NOW)


# --- the proof of a signIn output -------------------------------------------------


def test_an_output_opens_to_its_text_or_envelope_and_a_base58_signature() -> None:
    key = Keypair()
    text = "hello à"
    for signed in (text.encode(), legacy_envelope(text)):
        raw = bytes(key.sign_message(signed))
        for signature in (b58encode(raw), base64.b64encode(raw).decode()):
            proof = WalletStandardOutput(
                str(key.pubkey()), base64.b64encode(signed).decode(), signature
            )
            opened = proof.opened()
            assert (opened.signed, opened.text) == (signed, text)
            assert opened.signature == b58encode(raw)


@pytest.mark.parametrize(
    ("signed_message", "signature", "check", "detail"),
    [
        ("aGk", "1" * 64, "message_format", "signed_message must be base64"),
        ("aGk==", "1" * 64, "message_format", "signed_message must be base64"),
        ("//4=", "1" * 64, "message_format", "signed_message is not UTF-8 text"),
        ("aGk=", "B" * 86 + "==", "signature_format", "signature must be base64"),
    ],
)
def test_a_malformed_output_is_refused_naming_the_field(
    signed_message: str, signature: str, check: str, detail: str
) -> None:
    with pytest.raises(AuthenticationFailed) as failure:
        WalletStandardOutput(ADDRESS, signed_message, signature).opened()
    assert (failure.value.check, failure.value.detail) == (
        check,
        f"{check} check failed: {detail}",
    )


# --- properties -------------------------------------------------------------------

line = st.text(
    st.characters(exclude_characters="\n", exclude_categories=["Cs"]), max_size=40
)
inputs = st.builds(
    SignInInput,
    domain=line,
    address=line,
    statement=st.none() | line.filter(bool),
    **{name: st.none() | line for name in LABELS},
    resources=st.none() | st.lists(line, max_size=3).map(tuple),
)


def _field_shaped(text: str) -> bool:
    prefixes = tuple(f"{label}: " for label in LABELS.values())
    return text == "Resources:" or text.startswith(prefixes)


@given(inputs)
def test_render_then_parse_gives_back_any_input(sign_in: SignInInput) -> None:
    # A lone statement shaped like a field line reads as that field, as the
    # reference parser reads it (see above); every other input reads back.
    statement = sign_in.statement
    assume(statement is None or sign_in.field_lines() or not _field_shaped(statement))
    assert SignInInput.parse(sign_in.render()) == sign_in
