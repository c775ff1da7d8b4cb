"""USDC amounts: decimal strings at the edge, integer base units everywhere else."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pourtier.domain.errors import InvalidInput

USDC_DECIMALS = 6
UNITS_PER_USDC = 10**USDC_DECIMALS
U64_MAX = 2**64 - 1
_MAX_TEXT = 32
_PLAIN_CHARACTERS = frozenset("0123456789.-")


def parse_usdc(text: str, field: str = "amount") -> int:
    """'12.5' -> 12_500_000. Plain decimal notation only: no exponent or NaN."""
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_TEXT:
        raise InvalidInput(f"{field} must be a decimal string")
    # ASCII only: str.isdigit() and Decimal() also take other scripts' digits.
    if not all(c in _PLAIN_CHARACTERS for c in text) or text.count(".") > 1:
        raise InvalidInput(f"{field} must be a plain decimal number like 12.5")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(
            f"{field} must be a plain decimal number like 12.5"
        ) from None
    if not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -USDC_DECIMALS:
        raise InvalidInput(f"{field} has more than {USDC_DECIMALS} decimals")
    units = int(value * UNITS_PER_USDC)
    if units <= 0:
        raise InvalidInput(f"{field} must be greater than zero")
    if units > U64_MAX:
        raise InvalidInput(f"{field} is too large")
    return units


def format_usdc(units: int) -> str:
    """12_500_000 -> '12.500000': always six decimals, exact."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_USDC)
    return f"{sign}{whole}.{frac:0{USDC_DECIMALS}d}"


def usdc_decimal(units: int) -> Decimal:
    return Decimal(format_usdc(units))
