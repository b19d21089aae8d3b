"""Parsers for what a person types into a page's form fields (amounts in 元, whole numbers):
bad input becomes a domain error with a stable code, shown in the page."""

from __future__ import annotations

from linli.errors import Invalid
from linli.money import parse_yuan


def yuan_field(raw: str, code: str = "catalog.price_format") -> int:
    """An amount typed in 元 → fen (exactly; see ``money.parse_yuan``)."""
    try:
        return parse_yuan(raw)
    except ValueError:
        raise Invalid(code, "Enter an amount in yuan with at most 2 decimals.") from None


def int_field(raw: str, *, required: bool = True) -> int | None:
    raw = raw.strip()
    if not raw and not required:
        return None
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or len(raw) > 9:
        raise Invalid("catalog.number_format", "Enter a whole number.")
    return int(raw)
