"""Pure catalog rules: names, prices, stock, image checks."""

from __future__ import annotations

from linli.errors import Invalid

MAX_PRICE = 10_000_000  # 100,000 元 per unit: beyond that a typo is likelier than a sale
MAX_STOCK = 10_000_000


def clean_text(raw: str, *, field: str, max_len: int) -> str:
    text = " ".join((raw or "").split())
    if not 1 <= len(text) <= max_len:
        raise Invalid(f"catalog.{field}_invalid", f"{field} must have 1 to {max_len} characters.")
    return text


def check_price(price: int) -> int:
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= MAX_PRICE:
        raise Invalid("catalog.price_invalid", f"A price is whole fen from 0 to {MAX_PRICE}.")
    return price


def check_stock(stock: int) -> int:
    if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK:
        raise Invalid("catalog.stock_invalid", f"Stock is a whole number from 0 to {MAX_STOCK}.")
    return stock


def check_limit(limit: int | None) -> int | None:
    if limit is not None and not 1 <= limit <= 999:
        raise Invalid("catalog.limit_invalid", "A per-member limit is from 1 to 999 (or none).")
    return limit
