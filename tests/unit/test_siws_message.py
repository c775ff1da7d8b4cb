"""Sign-In-With-Solana message text, policy and signature checks: pure, no I/O."""

from __future__ import annotations

import base64
import dataclasses
import math
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from pourtier.domain.auth import MAX_SIGNATURE_CHARS
from pourtier.domain.base58 import b58encode
from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.sign_in import (
    CLOCK_SKEW,
    DEFAULT_STATEMENT,
    LINK_STATEMENT,
    NONCE_TTL,
    Nonce,
    NoncePurpose,
    SignInMessage,
    SignInPolicy,
    new_nonce,
)
from pourtier.domain.sign_in_input import HEADER_SUFFIX, MAX_MESSAGE_BYTES
from pourtier.infrastructure.auth.wallet_signature import Ed25519SignatureVerifier

DOMAIN = "app.pourtier.test"
URI = "https://app.pourtier.test"
NOW = datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
ADDRESS = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
NONCE = "0123456789abcdef0123456789abcdef"
POLICY = SignInPolicy(domain=DOMAIN, uri=URI, chain_id="devnet")
GOLDEN = "\n".join(
    [
        f"{DOMAIN} wants you to sign in with your Solana account:",
        ADDRESS,
        "",
        DEFAULT_STATEMENT,
        "",
        f"URI: {URI}",
        "Version: 1",
        "Chain ID: devnet",
        f"Nonce: {NONCE}",
        "Issued At: 2025-03-14T15:09:26.535Z",
        "Expiration Time: 2025-03-14T15:14:26.535Z",
    ]
)


def issued() -> SignInMessage:
    return POLICY.message_for(ADDRESS, NONCE, NOW)


def with_line(text: str, index: int, line: str) -> str:
    lines = text.split("\n")
    lines[index] = line
    return "\n".join(lines)


def check_of(text: str) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        SignInMessage.parse(text)
    return failure.value.check


# --- rendering and parsing -------------------------------------------------


def test_message_for_renders_the_exact_siws_layout() -> None:
    assert issued().render() == GOLDEN


def test_message_for_fills_every_field_from_the_policy() -> None:
    message = issued()
    assert message.domain == DOMAIN
    assert message.uri == URI
    assert message.chain_id == "devnet"
    assert message.version == "1"
    assert message.address == ADDRESS
    assert message.nonce == NONCE
    assert message.statement == DEFAULT_STATEMENT
    assert message.issued_at == NOW
    assert (
        message.expiration_time - message.issued_at == NONCE_TTL == timedelta(minutes=5)
    )


def test_parse_reads_back_every_field() -> None:
    assert SignInMessage.parse(GOLDEN) == issued()


def test_timestamps_render_in_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=1))
    message = POLICY.message_for(ADDRESS, NONCE, NOW.astimezone(paris))
    assert message.render() == GOLDEN


@pytest.mark.parametrize(
    ("index", "line"),
    [
        (0, f"{DOMAIN} wants you to sign in with your Ethereum account:"),
        (0, DOMAIN),
        (2, "not blank"),
        (4, "not blank"),
        (5, f"Uri: {URI}"),
        (6, "Version:1"),
        (7, "Chain Id: devnet"),
        (8, f"nonce: {NONCE}"),
        (9, "Issued-At: 2025-03-14T15:09:26.535Z"),
        (10, "Expires: 2025-03-14T15:14:26.535Z"),
        (9, "Issued At: yesterday"),
        (10, "Expiration Time: 2025-13-14T15:14:26.535Z"),
        (9, "Issued At: 2025-03-14T15:09:26.535"),
        (10, "Expiration Time: 2025-03-14T15:14:26"),
    ],
)
def test_parse_rejects_a_broken_line(index: int, line: str) -> None:
    assert check_of(with_line(GOLDEN, index, line)) == "message_format"


@pytest.mark.parametrize(
    "text",
    [
        "",
        GOLDEN + "\n",
        GOLDEN + "\nResources:",
        "\n" + GOLDEN,
        GOLDEN.replace("\n", "\r\n"),
        "\n".join(GOLDEN.split("\n")[:-1]),
        GOLDEN.replace(f"Nonce: {NONCE}\n", ""),
    ],
)
def test_parse_rejects_a_different_layout(text: str) -> None:
    assert check_of(text) == "message_format"


@pytest.mark.parametrize(
    "nonce",
    [
        "",
        "abc1234",  # 7 characters: EIP-4361 asks for at least 8
        "a" * 65,
        "abcd\x00efgh",  # PostgreSQL refuses NUL: must not reach the database
        "abcd efgh",
        "abcdéfghij",
        "abcd-efgh",
    ],
)
def test_parse_rejects_a_nonce_that_we_could_not_have_issued(nonce: str) -> None:
    assert check_of(with_line(GOLDEN, 8, f"Nonce: {nonce}")) == "message_format"


def test_parse_accepts_alphanumeric_nonces_from_8_to_64_characters() -> None:
    for nonce in ("abcd1234", "Z" * 64, new_nonce()):
        text = with_line(GOLDEN, 8, f"Nonce: {nonce}")
        assert SignInMessage.parse(text).nonce == nonce


def test_parse_rejects_text_that_is_not_unicode_scalar_values() -> None:
    text = with_line(GOLDEN, 3, "lone surrogate \ud800")
    assert check_of(text) == "message_format"


def _padded_to(size: int, filler: str) -> str:
    """GOLDEN with its statement padded so the whole text is `size` UTF-8 bytes."""
    room = size - len(GOLDEN.encode("utf-8")) + len(DEFAULT_STATEMENT)
    width = len(filler.encode("utf-8"))
    statement = filler * (room // width) + "x" * (room % width)
    text = with_line(GOLDEN, 3, statement)
    assert len(text.encode("utf-8")) == size
    return text


def test_parse_accepts_a_message_of_exactly_the_size_cap() -> None:
    assert SignInMessage.parse(_padded_to(MAX_MESSAGE_BYTES, "x")).nonce == NONCE


@pytest.mark.parametrize("filler", ["x", "é", "€", "🙂"])
def test_parse_caps_the_size_in_utf8_bytes_not_characters(filler: str) -> None:
    text = _padded_to(MAX_MESSAGE_BYTES + 1, filler)
    assert check_of(text) == "message_size"
    assert len(text) <= MAX_MESSAGE_BYTES + 1


def test_parse_checks_the_size_before_the_layout() -> None:
    assert check_of("\n" * (MAX_MESSAGE_BYTES + 1)) == "message_size"


# --- the policy --------------------------------------------------------------


def policy_check_of(message: SignInMessage, now: datetime = NOW) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        POLICY.check(message, ADDRESS, now)
    return failure.value.check


def test_policy_accepts_what_it_issued() -> None:
    POLICY.check(SignInMessage.parse(GOLDEN), ADDRESS, NOW)
    POLICY.check(issued(), ADDRESS, NOW + NONCE_TTL - timedelta(milliseconds=1))


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"address": "11111111111111111111111111111111"}, "address"),
        ({"domain": "evil.example"}, "domain"),
        ({"domain": f"{DOMAIN}.evil.example"}, "domain"),
        ({"domain": DOMAIN.upper()}, "domain"),
        ({"domain": f"{DOMAIN}:443"}, "domain"),
        ({"uri": "https://evil.example"}, "uri"),
        ({"uri": "http://app.pourtier.test"}, "uri"),
        ({"uri": f"{URI}/"}, "uri"),
        ({"version": "2"}, "version"),
        ({"version": "1.0"}, "version"),
        ({"version": " 1"}, "version"),
        ({"chain_id": "mainnet"}, "chain_id"),
        ({"chain_id": "testnet"}, "chain_id"),
        ({"chain_id": "solana:devnet"}, "chain_id"),
        ({"statement": LINK_STATEMENT}, "statement"),
        ({"statement": DEFAULT_STATEMENT + " "}, "statement"),
        ({"statement": ""}, "statement"),
        ({"issued_at": NOW + timedelta(minutes=2)}, "issued_at"),
        ({"expiration_time": NOW - timedelta(seconds=1)}, "expiration_time"),
    ],
)
def test_policy_names_the_one_wrong_field(change: dict[str, Any], check: str) -> None:
    assert policy_check_of(dataclasses.replace(issued(), **change)) == check


def test_each_purpose_has_its_statement_and_accepts_no_other() -> None:
    link = POLICY.message_for(ADDRESS, NONCE, NOW, NoncePurpose.LINK)
    assert link.statement == LINK_STATEMENT
    assert dataclasses.replace(link, statement=DEFAULT_STATEMENT) == issued()
    POLICY.check(link, ADDRESS, NOW, NoncePurpose.LINK)
    with pytest.raises(AuthenticationFailed) as failure:
        POLICY.check(issued(), ADDRESS, NOW, NoncePurpose.LINK)
    assert failure.value.check == "statement"
    assert policy_check_of(link) == "statement"


def test_a_nonce_is_usable_for_its_own_purpose_only() -> None:
    link = stored_nonce(purpose=NoncePurpose.LINK)
    link.check_usable(ADDRESS, NOW, NoncePurpose.LINK)
    for nonce, purpose in ((link, NoncePurpose.SIGN_IN), (stored_nonce(), "link")):
        with pytest.raises(AuthenticationFailed) as failure:
            nonce.check_usable(ADDRESS, NOW, NoncePurpose(purpose))
        assert failure.value.check == "nonce"
        assert "nonce was issued for" in failure.value.detail


def test_policy_refuses_a_message_for_another_wallet() -> None:
    with pytest.raises(AuthenticationFailed) as failure:
        POLICY.check(issued(), "11111111111111111111111111111111", NOW)
    assert failure.value.check == "address"


def test_policy_tolerates_exactly_60_seconds_of_clock_skew() -> None:
    assert timedelta(seconds=60) == CLOCK_SKEW
    skewed = dataclasses.replace(issued(), issued_at=NOW + CLOCK_SKEW)
    POLICY.check(skewed, ADDRESS, NOW)
    beyond = dataclasses.replace(
        issued(), issued_at=NOW + CLOCK_SKEW + timedelta(milliseconds=1)
    )
    assert policy_check_of(beyond) == "issued_at"


def test_policy_refuses_a_message_at_its_expiration_instant() -> None:
    message = issued()
    assert policy_check_of(message, now=message.expiration_time) == "expiration_time"


def test_policy_compares_instants_not_wall_clock_text() -> None:
    """The same instant written in another zone is neither future nor expired."""
    tokyo = timezone(timedelta(hours=9))
    message = dataclasses.replace(
        issued(),
        issued_at=NOW.astimezone(tokyo),
        expiration_time=(NOW + NONCE_TTL).astimezone(tokyo),
    )
    POLICY.check(message, ADDRESS, NOW)


# --- nonces ----------------------------------------------------------------


def stored_nonce(**change: Any) -> Nonce:
    nonce = Nonce(NONCE, ADDRESS, NOW, NOW + NONCE_TTL)
    return dataclasses.replace(nonce, **change)


def test_a_fresh_nonce_is_usable_by_its_wallet() -> None:
    stored_nonce().check_usable(ADDRESS, NOW)


@pytest.mark.parametrize(
    ("nonce", "wallet", "now", "detail"),
    [
        (
            stored_nonce(),
            "11111111111111111111111111111111",
            NOW,
            "nonce was not issued to this wallet",
        ),
        (
            stored_nonce(consumed_at=NOW),
            ADDRESS,
            NOW,
            "nonce has already been used",
        ),
        (stored_nonce(), ADDRESS, NOW + NONCE_TTL, "nonce has expired"),
    ],
)
def test_an_unusable_nonce_is_refused(
    nonce: Nonce, wallet: str, now: datetime, detail: str
) -> None:
    with pytest.raises(AuthenticationFailed) as failure:
        nonce.check_usable(wallet, now)
    assert failure.value.check == "nonce"
    assert failure.value.detail == f"nonce check failed: {detail}"


def test_new_nonces_carry_at_least_96_random_bits() -> None:
    nonces = [new_nonce() for _ in range(200)]
    assert len(set(nonces)) == len(nonces)
    for nonce in nonces:
        alphabet = 16 if set(nonce) <= set(string.hexdigits) else 62
        assert len(nonce) * math.log2(alphabet) >= 96
        SignInMessage.parse(with_line(GOLDEN, 8, f"Nonce: {nonce}"))
    assert len({n[:8] for n in nonces}) == len(nonces)


# --- the ed25519 verifier ----------------------------------------------------

VERIFIER = Ed25519SignatureVerifier()


def signature_check_of(wallet: str, message: bytes, signature: str) -> str:
    with pytest.raises(AuthenticationFailed) as failure:
        VERIFIER.verify(wallet, message, signature)
    return failure.value.check


def test_verifier_accepts_the_wallets_signature_over_the_exact_bytes() -> None:
    key = Keypair()
    data = "Connexion à Pourtier ✓".encode()
    VERIFIER.verify(str(key.pubkey()), data, str(key.sign_message(data)))


def test_verifier_refuses_other_bytes_another_key_or_another_wallet() -> None:
    key, other = Keypair(), Keypair()
    text = "Connexion à Pourtier ✓"
    data = text.encode("utf-8")
    good = str(key.sign_message(data))
    wallet = str(key.pubkey())
    assert signature_check_of(wallet, data + b"\n", good) == "signature"
    assert signature_check_of(wallet, text.encode("utf-16"), good) == "signature"
    decomposed = "Connexion a\u0300 Pourtier ✓".encode()
    assert signature_check_of(wallet, decomposed, good) == "signature"
    assert signature_check_of(str(other.pubkey()), data, good) == "signature"
    forged = str(other.sign_message(data))
    assert signature_check_of(wallet, data, forged) == "signature"
    assert signature_check_of(wallet, data, b58encode(bytes(64))) == "signature"


@pytest.mark.parametrize(
    ("signature", "check"),
    [
        ("0" * 88, "signature_format"),
        ("l" * 88, "signature_format"),
        ("+/==", "signature_format"),
        ("", "signature_format"),
        (b58encode(b"\x01" * 63), "signature_format"),
        (b58encode(b"\x01" * 65), "signature_format"),
        ("1" * 63, "signature_format"),
        ("1" * (MAX_SIGNATURE_CHARS + 1), "signature_size"),
        ("9" * 10_000, "signature_size"),
    ],
)
def test_verifier_refuses_a_malformed_signature(signature: str, check: str) -> None:
    key = Keypair()
    assert signature_check_of(str(key.pubkey()), b"hello", signature) == check


def test_verifier_wants_base58_not_hex_or_base64() -> None:
    key = Keypair()
    data = b"hello"
    raw = bytes(key.sign_message(data))
    wallet = str(key.pubkey())
    encoded = base64.b64encode(raw).decode()
    assert signature_check_of(wallet, data, encoded) == "signature_format"
    assert signature_check_of(wallet, data, raw.hex()) == "signature_format"
    VERIFIER.verify(wallet, data, b58encode(raw))


# --- properties ------------------------------------------------------------

line_text = st.text(
    st.characters(exclude_characters="\n", exclude_categories=["Cs"]), max_size=40
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
messages = st.builds(
    SignInMessage,
    domain=line_text,
    address=line_text,
    statement=line_text,
    uri=line_text,
    version=line_text,
    chain_id=line_text,
    nonce=st.text(string.ascii_letters + string.digits, min_size=8, max_size=64),
    issued_at=instants,
    expiration_time=instants,
)


@given(messages)
def test_render_then_parse_gives_back_the_message(message: SignInMessage) -> None:
    assert SignInMessage.parse(message.render()) == message


def _near_siws(parts: list[str]) -> str:
    return "\n".join(parts)


any_text = st.text(st.characters(exclude_categories=[]), max_size=300)
field_lines = st.sampled_from(
    [f"{name}: " for name in ("URI", "Version", "Chain ID", "Nonce")]
    + ["Issued At: ", "Expiration Time: "]
).flatmap(lambda prefix: any_text.map(lambda rest: prefix + rest))
siws_like = st.one_of(
    any_text,
    st.lists(st.one_of(any_text, field_lines), min_size=11, max_size=11).map(
        _near_siws
    ),
    st.tuples(line_text, line_text, st.lists(field_lines, min_size=6, max_size=6)).map(
        lambda t: _near_siws([t[0] + HEADER_SUFFIX, t[1], "", "", "", *t[2]])
    ),
    messages.map(SignInMessage.render).flatmap(
        lambda text: st.tuples(
            st.integers(0, 10), st.sampled_from(["", ":", "Z", "+99:99", "\ud800"])
        ).map(
            lambda edit: with_line(text, edit[0], text.split("\n")[edit[0]] + edit[1])
        )
    ),
)


PARSE_AND_POLICY_CHECKS = {
    "message_size",
    "message_format",
    "address",
    "domain",
    "uri",
    "version",
    "chain_id",
    "issued_at",
    "expiration_time",
}


@settings(max_examples=300)
@given(siws_like, st.sampled_from([NOW, datetime.min.replace(tzinfo=UTC)]))
def test_parse_and_check_only_ever_raise_authentication_failed(
    text: str, now: datetime
) -> None:
    failure: AuthenticationFailed | None = None
    try:
        message = SignInMessage.parse(text)
        POLICY.check(message, message.address, now)
    except AuthenticationFailed as error:
        failure = error
    if failure is not None:
        assert failure.check in PARSE_AND_POLICY_CHECKS
        assert failure.detail
