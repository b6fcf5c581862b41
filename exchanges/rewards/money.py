"""Units the ledger counts in: an ISO 4217 currency (codes and minor units from py-moneyed,
which reads them from Babel's CLDR data, not a table of our own) or a points programme code.
Amounts are ``Decimal``, never floats, and travel as decimal strings."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

import moneyed

POINTS_CODE = re.compile(r"^[a-z][a-z0-9-]{1,29}$")  # a programme, e.g. "harbor-points"


def is_currency(code: str) -> bool:
    if len(code) != 3 or not code.isupper():
        return False
    try:
        moneyed.get_currency(code)
    except moneyed.CurrencyDoesNotExist:
        return False
    return True


def currency_codes() -> list[str]:
    """Every code ``is_currency`` accepts, sorted."""
    return sorted(code for code in moneyed.CURRENCIES if is_currency(code))


def is_points(code: str) -> bool:
    return bool(POINTS_CODE.match(code))


def quantize(amount: Decimal, unit: str) -> Decimal:
    """Round to the unit's smallest step: the currency's minor unit, whole points."""
    if is_currency(unit):
        sub_unit = moneyed.get_currency(unit).sub_unit or 1
        places = len(str(sub_unit)) - 1
        return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)


def as_wire(amount: Decimal, unit: str) -> dict[str, str]:
    """``{"amount": "5.00", "currency": "EUR"}`` or ``{"amount": "100", "points": "…"}``."""
    key = "currency" if is_currency(unit) else "points"
    return {"amount": str(quantize(amount, unit)), key: unit}
