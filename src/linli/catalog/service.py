"""Catalog use cases. Stock changes only by compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli import media
from linli.catalog import rules
from linli.catalog.models import Product, Sku
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal


@dataclass(frozen=True)
class SkuInput:
    name: str
    price: int
    stock: int


def create_product(
    s: Session, who: Principal, merchant_id: int, name: str, category: str, skus: list[SkuInput], now: datetime, *, description: str = "", limit_per_member: int | None = None
) -> tuple[Product, list[Sku]]:
    identity.require_permission(s, who, merchant_id, Permission.manage_catalog)
    if not 1 <= len(skus) <= 50:
        raise Invalid("catalog.skus_invalid", "A product has 1 to 50 SKUs.")
    names = [rules.clean_text(k.name, field="sku_name", max_len=60) for k in skus]
    if len(set(names)) != len(names):
        raise Invalid("catalog.sku_duplicate", "SKU names of one product must differ.")
    p = Product(
        merchant_id=merchant_id,
        name=rules.clean_text(name, field="name", max_len=80),
        category=rules.clean_text(category, field="category", max_len=40),
        description=(description or "").strip()[:2000],
        limit_per_member=rules.check_limit(limit_per_member),
        created_at=now,
    )
    s.add(p)
    s.flush()
    rows = [Sku(merchant_id=merchant_id, product_id=p.id, name=n, price=rules.check_price(k.price), stock=rules.check_stock(k.stock), created_at=now) for n, k in zip(names, skus)]
    s.add_all(rows)
    s.flush()
    return p, rows


def _product_or_404(s: Session, merchant_id: int | None, product_id: int) -> Product:
    p = s.get(Product, product_id)
    if p is None or (merchant_id is not None and p.merchant_id != merchant_id):
        raise NotFound("product.not_found", "No such product.")
    return p


def skus_of(s: Session, product_ids: list[int]) -> dict[int, list[Sku]]:
    out: dict[int, list[Sku]] = {pid: [] for pid in product_ids}
    if product_ids:
        for k in s.scalars(select(Sku).where(Sku.product_id.in_(product_ids)).order_by(Sku.id)):
            out[k.product_id].append(k)
    return out


def list_products(s: Session, who: Principal, merchant_id: int, *, include_archived: bool = True) -> list[Product]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    stmt = select(Product).where(Product.merchant_id == merchant_id).order_by(Product.id.desc())
    if not include_archived:
        stmt = stmt.where(Product.status == "active")
    return list(s.scalars(stmt))


def public_products(s: Session, merchant_id: int, category: str | None = None, limit: int = 200) -> list[Product]:
    identity.public_merchant(s, merchant_id)
    stmt = select(Product).where(Product.merchant_id == merchant_id, Product.status == "active").order_by(Product.id.desc()).limit(limit)
    if category:
        stmt = stmt.where(Product.category == category)
    return list(s.scalars(stmt))


def public_product(s: Session, product_id: int) -> Product:
    p = _product_or_404(s, None, product_id)
    if p.status != "active":
        raise NotFound("product.not_found", "No such product.")
    return p


def update_product(
    s: Session, who: Principal, merchant_id: int, product_id: int, *, name: str | None = None, category: str | None = None, description: str | None = None, status: str | None = None, limit_per_member: int | None = None, clear_limit: bool = False
) -> Product:
    identity.require_permission(s, who, merchant_id, Permission.manage_catalog)
    p = _product_or_404(s, merchant_id, product_id)
    if name is not None:
        p.name = rules.clean_text(name, field="name", max_len=80)
    if category is not None:
        p.category = rules.clean_text(category, field="category", max_len=40)
    if description is not None:
        p.description = description.strip()[:2000]
    if status is not None:
        if status not in ("active", "archived"):
            raise Invalid("catalog.status_invalid", "Status is active or archived.")
        p.status = status
    if clear_limit:
        p.limit_per_member = None
    elif limit_per_member is not None:
        p.limit_per_member = rules.check_limit(limit_per_member)
    s.flush()
    return p


def _sku_or_404(s: Session, merchant_id: int, sku_id: int) -> Sku:
    k = s.get(Sku, sku_id)
    if k is None or k.merchant_id != merchant_id:
        raise NotFound("sku.not_found", "No such SKU.")
    return k


def update_sku(s: Session, who: Principal, merchant_id: int, sku_id: int, *, price: int | None = None, add_stock: int | None = None, name: str | None = None) -> Sku:
    """Change price or name, or add (or with a negative number, remove) stock. Removing
    stock is a compare-and-set: it never takes stock below zero, even while selling."""
    identity.require_permission(s, who, merchant_id, Permission.manage_catalog)
    k = _sku_or_404(s, merchant_id, sku_id)
    if price is not None:
        k.price = rules.check_price(price)
    if name is not None:
        k.name = rules.clean_text(name, field="sku_name", max_len=60)
    s.flush()
    if add_stock:
        if abs(add_stock) > rules.MAX_STOCK:
            raise Invalid("catalog.stock_invalid", "Stock change too large.")
        if add_stock > 0:
            s.execute(update(Sku).where(Sku.id == k.id).values(stock=Sku.stock + add_stock))
        elif not take_stock(s, k.id, -add_stock):
            raise Conflict("catalog.stock_insufficient", "Cannot remove more stock than is left.")
        s.refresh(k)
    return k


# --- stock ports used by orders -------------------------------------------------------------


def take_stock(s: Session, sku_id: int, qty: int) -> bool:
    """Compare-and-set: take ``qty`` units if that many are left. True if taken."""
    res = s.execute(update(Sku).where(Sku.id == sku_id, Sku.stock >= qty).values(stock=Sku.stock - qty, sold=Sku.sold + qty))
    return res.rowcount == 1


def return_stock(s: Session, sku_id: int, qty: int) -> None:
    s.execute(update(Sku).where(Sku.id == sku_id).values(stock=Sku.stock + qty, sold=Sku.sold - qty))


@dataclass(frozen=True)
class SkuView:
    """What the order domain needs to know about a SKU."""

    sku_id: int
    merchant_id: int
    product_id: int
    product_name: str
    sku_name: str
    category: str
    price: int
    stock: int
    limit_per_member: int | None
    active: bool


def sku_views(s: Session, sku_ids: list[int]) -> dict[int, SkuView]:
    if not sku_ids:
        return {}
    rows = s.execute(select(Sku, Product).join(Product, Product.id == Sku.product_id).where(Sku.id.in_(sku_ids)))
    return {
        k.id: SkuView(k.id, k.merchant_id, p.id, p.name, k.name, p.category, k.price, k.stock, p.limit_per_member, p.status == "active")
        for k, p in rows
    }


def categories(s: Session, merchant_id: int) -> list[str]:
    return list(s.scalars(select(Product.category).where(Product.merchant_id == merchant_id, Product.status == "active").group_by(Product.category).order_by(func.min(Product.id))))


# --- images --------------------------------------------------------------------------------


def save_image(s: Session, who: Principal, merchant_id: int, product_id: int, data: bytes, media_dir: str) -> Product:
    identity.require_permission(s, who, merchant_id, Permission.manage_catalog)
    p = _product_or_404(s, merchant_id, product_id)
    p.image = media.store_image(data, media_dir, f"products/{merchant_id}")
    s.flush()
    return p
