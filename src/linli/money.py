"""Money is integer fen; rates are integer basis points (10000 = 100%).

Every rounding is a floor and says so; what floors away stays with the merchant.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

BP_WHOLE = 10_000


def check_fen(amount: int, *, allow_negative: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money must be integer fen, got {type(amount).__name__}")
    if amount < 0 and not allow_negative:
        raise ValueError(f"money must not be negative: {amount}")
    return amount


def check_bp(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise TypeError(f"rates must be integer basis points, got {type(rate).__name__}")
    if not 0 <= rate <= BP_WHOLE:
        raise ValueError(f"rate out of range 0..10000 bp: {rate}")
    return rate


def apply_bp_floor(base: int, rate_bp: int) -> int:
    """floor(base × rate / 10000): the commission and fee rule of RULES.md."""
    check_fen(base)
    check_bp(rate_bp)
    return base * rate_bp // BP_WHOLE


def allocate_proportionally(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen over ``weights`` so the parts sum exactly to ``total``.

    Each part is floored first; the leftover fen go one each to the parts with the
    largest remainders (ties to the earlier part). Used to spread an order-level discount
    over its lines so per-line ``paid`` amounts add up to the order.
    """
    check_fen(total)
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    for w in weights:
        check_fen(w)
    wsum = sum(weights)
    if wsum == 0:
        # Nothing to weigh by: split evenly, earlier parts take the extra fen.
        q, r = divmod(total, len(weights))
        return [q + (1 if i < r else 0) for i in range(len(weights))]
    parts = [total * w // wsum for w in weights]
    remainders = [(total * w % wsum, -i) for i, w in enumerate(weights)]
    leftover = total - sum(parts)
    for _, neg_i in sorted(remainders, reverse=True)[:leftover]:
        parts[-neg_i] += 1
    return parts


def format_yuan(fen: int) -> str:
    """12345 → '123.45' (display only; never parse money from this)."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(fen), 100)
    return f"{sign}{q}.{r:02d}"


_MAX_YUAN_DIGITS = 12  # far beyond any real amount; keeps the integer small


def parse_yuan(text: str) -> int:
    """What someone typed as an amount in 元 → integer fen, exactly (no floats).

    "12" → 1200, "12.5" → 1250, "12.50" → 1250, "0.01" → 1. Full-width digits and
    point (as Chinese keyboards type them), surrounding spaces and a leading ¥ / ￥ or a
    trailing 元 are accepted. Refused with ``ValueError``: empty text, a sign, more than 2
    decimals, exponents, separators, anything else.
    """
    if not isinstance(text, str):
        raise ValueError("an amount is text")
    s = unicodedata.normalize("NFKC", text).strip()  # "１２．５" → "12.5", "￥" → "¥"
    if s.startswith("¥"):
        s = s[1:].lstrip()
    if s.endswith("元"):
        s = s[:-1].rstrip()
    whole, dot, frac = s.partition(".")
    if not whole or not _ascii_digits(whole) or len(whole) > _MAX_YUAN_DIGITS:
        raise ValueError(f"not an amount in yuan: {text!r}")
    if dot and (not 1 <= len(frac) <= 2 or not _ascii_digits(frac)):
        raise ValueError(f"an amount has at most 2 decimals: {text!r}")
    return int(whole) * 100 + int(frac.ljust(2, "0") if dot else "0")


def _ascii_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()
