"""ISO 4217 currency codes and their minor-unit exponents."""

from functools import cache

import pycountry

# ISO 4217 codes whose minor unit is not 2 decimal places (the table's "minor unit" column).
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4),
}
# Codes without a minor unit at all (precious metals, testing, SDR): not money we can price.
_NOT_MONEY = frozenset(
    ("XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX")
)


@cache
def is_currency(code: str) -> bool:
    return code not in _NOT_MONEY and pycountry.currencies.get(alpha_3=code) is not None


def exponent(code: str) -> int:
    """Decimal places of the currency's minor unit: GBP 2, JPY 0, KWD 3."""
    return _EXPONENTS.get(code, 2)
