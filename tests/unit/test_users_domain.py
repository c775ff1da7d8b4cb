"""User rules: wallet address, display name, email, profile updates. Pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from solders.keypair import Keypair

from pourtier.domain.base58 import ALPHABET, b58decode, b58encode
from pourtier.domain.errors import InvalidInput
from pourtier.domain.users import (
    DISPLAY_NAME_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    KycStatus,
    User,
    validate_display_name,
    validate_email,
    validate_wallet_address,
)

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
ADDRESS = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


# --- wallet address -------------------------------------------------------


def test_real_public_keys_are_valid_addresses() -> None:
    for _ in range(5):
        address = str(Keypair().pubkey())
        assert validate_wallet_address(address) == address


def test_address_with_leading_zero_bytes_is_valid() -> None:
    address = b58encode(b"\x00" * 4 + bytes(range(1, 29)))
    assert address.startswith("1111")
    assert validate_wallet_address(address) == address


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        ADDRESS[:31],
        ADDRESS + "1",
        ADDRESS[:-1] + "0",  # 0 is not in the base58 alphabet
        ADDRESS[:-1] + "O",
        ADDRESS[:-1] + "l",
        " " + ADDRESS[1:],
        b58encode(b"\x01" * 33),  # 44 characters but 33 bytes
        b58encode(b"\xff" * 31),  # 43 characters but 31 bytes
        b58encode(b"\xff" * 24),
        "Robert'); DROP TABLE users;--xxxxxxxxxxxxxx",
    ],
)
def test_invalid_addresses_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="wallet_address"):
        validate_wallet_address(value)


@given(st.text(max_size=60))
def test_wallet_validation_only_ever_raises_invalid_input(value: str) -> None:
    try:
        result = validate_wallet_address(value)
    except InvalidInput:
        return
    assert result == value
    assert 32 <= len(value) <= 44


@given(st.text(alphabet=ALPHABET, min_size=30, max_size=46))
def test_base58_text_is_valid_exactly_when_it_is_32_bytes(value: str) -> None:
    decodes_to_32 = len(b58decode(value)) == 32 and 32 <= len(value) <= 44
    try:
        validate_wallet_address(value)
    except InvalidInput:
        assert not decodes_to_32
    else:
        assert decodes_to_32


@given(st.binary(min_size=32, max_size=32))
def test_every_32_byte_key_encodes_to_a_valid_address(key: bytes) -> None:
    address = b58encode(key)
    assert validate_wallet_address(address) == address


# --- display name ---------------------------------------------------------


def test_display_name_is_stripped() -> None:
    assert validate_display_name("  Alice \t\n") == "Alice"


def test_display_name_none_clears() -> None:
    assert validate_display_name(None) is None


@pytest.mark.parametrize("value", ["", "   ", "\t\n", "\u00a0\u2003"])
def test_blank_display_name_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="blank"):
        validate_display_name(value)


def test_display_name_length_limit_is_inclusive() -> None:
    at_limit = "a" * DISPLAY_NAME_MAX_LENGTH
    assert validate_display_name(at_limit) == at_limit
    assert validate_display_name(f"  {at_limit}  ") == at_limit
    with pytest.raises(InvalidInput, match="at most 64"):
        validate_display_name(at_limit + "b")


def test_display_name_keeps_injection_text_verbatim() -> None:
    name = "Robert'); DROP TABLE users;--"
    assert validate_display_name(name) == name


@pytest.mark.parametrize("value", ["\x00", "a\x00b", " \x00 "])
def test_display_name_with_nul_is_refused(value: str) -> None:
    """PostgreSQL text cannot store NUL; refusing it keeps it a client error."""
    with pytest.raises(InvalidInput, match="NUL"):
        validate_display_name(value)


@given(st.text(max_size=3 * DISPLAY_NAME_MAX_LENGTH))
@example("\x00")
@example(" " * 100 + "a" * DISPLAY_NAME_MAX_LENGTH + "\n")
@example("a" * (DISPLAY_NAME_MAX_LENGTH + 1))
def test_display_name_property(value: str) -> None:
    """Either InvalidInput, or the stripped, non-empty text within the limit."""
    stripped = value.strip()
    try:
        result = validate_display_name(value)
    except InvalidInput:
        assert (
            not stripped
            or len(stripped) > DISPLAY_NAME_MAX_LENGTH
            or "\x00" in stripped
        )
        return
    assert result == stripped
    assert result
    assert len(result) <= DISPLAY_NAME_MAX_LENGTH
    assert "\x00" not in result


# --- email ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  alice@example.com\n", "alice@example.com"),
        ("a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_valid_emails(value: str, expected: str) -> None:
    assert validate_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@@example.com",
        "al ice@example.com",
        "alice@example.com\nbob@example.com",
        "ali\x00ce@example.com",
        "a" * (EMAIL_MAX_LENGTH - len("@example.com") + 1) + "@example.com",
    ],
)
def test_invalid_emails_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="email"):
        validate_email(value)


def test_email_at_length_limit_is_accepted() -> None:
    value = "a" * (EMAIL_MAX_LENGTH - len("@example.com")) + "@example.com"
    assert len(value) == EMAIL_MAX_LENGTH
    assert validate_email(value) == value


def test_email_none_clears() -> None:
    assert validate_email(None) is None


@given(st.text(max_size=300))
def test_email_validation_only_ever_raises_invalid_input(value: str) -> None:
    try:
        result = validate_email(value)
    except InvalidInput:
        return
    assert result is not None
    assert result == value.strip()
    assert len(result) <= EMAIL_MAX_LENGTH
    assert result.count("@") == 1


# --- User -----------------------------------------------------------------


def test_register_sets_defaults_and_times() -> None:
    user = User.register(ADDRESS, NOW)
    assert isinstance(user.id, uuid.UUID)
    assert user.wallet_address == ADDRESS
    assert user.kyc_status is KycStatus.NOT_STARTED
    assert user.display_name is None
    assert user.email is None
    assert user.created_at == user.updated_at == user.last_login_at == NOW


def test_register_gives_distinct_ids() -> None:
    assert User.register(ADDRESS, NOW).id != User.register(ADDRESS, NOW).id


def test_register_refuses_invalid_wallet() -> None:
    with pytest.raises(InvalidInput):
        User.register("not-a-wallet", NOW)


def test_kyc_statuses_are_the_five_documented_ones() -> None:
    assert {s.value for s in KycStatus} == {
        "not_started",
        "pending",
        "in_review",
        "verified",
        "rejected",
    }


def test_update_profile_changes_only_given_fields() -> None:
    user = User.register(ADDRESS, NOW)
    user.display_name = "Alice"
    user.email = "alice@example.com"
    later = NOW + timedelta(minutes=5)
    user.update_profile({"email": " new@example.com "}, later)
    assert user.display_name == "Alice"
    assert user.email == "new@example.com"
    assert user.updated_at == later
    assert user.created_at == NOW


def test_update_profile_none_clears() -> None:
    user = User.register(ADDRESS, NOW)
    user.display_name = "Alice"
    user.update_profile({"display_name": None}, NOW)
    assert user.display_name is None


def test_update_profile_invalid_value_raises() -> None:
    user = User.register(ADDRESS, NOW)
    with pytest.raises(InvalidInput):
        user.update_profile({"email": "nope"}, NOW)
    assert user.email is None
