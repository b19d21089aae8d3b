"""Catalog pages: the member's shop and product pages (H5), and the console's products
page (create with SKUs, picture, archive, stock) with a summary on the merchant page."""

from __future__ import annotations

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from linli import media
from linli.catalog import service
from linli.catalog.models import Product, Sku
from linli.community import service as community
from linli.errors import DomainError
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.money import format_yuan
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.forms import int_field, yuan_field
from linli.web.member import shop_blocks
from linli.web.pages import (
    ConsoleWho,
    Form,
    Page,
    PageDep,
    attempt,
    error_messages,
    text,
)

router = deps_router(include_in_schema=False)
templating.env.filters.setdefault("yuan", format_yuan)

error_messages(
    {
        "catalog.skus_invalid": N_("A product has 1 to 50 SKUs."),
        "catalog.sku_duplicate": N_("SKU names of one product must differ."),
        "catalog.name_invalid": N_("A product name has 1 to 80 characters."),
        "catalog.category_invalid": N_("A category has 1 to 40 characters."),
        "catalog.sku_name_invalid": N_("A SKU name has 1 to 60 characters."),
        "catalog.price_invalid": N_("A price is from 0 to 100,000 yuan."),
        "catalog.price_format": N_("Enter a price in yuan with at most 2 decimals, e.g. 68 or 12.50."),
        "catalog.stock_invalid": N_("Stock is a whole number from 0 to 10,000,000."),
        "catalog.number_format": N_("Enter a whole number."),
        "catalog.limit_invalid": N_("A per-member limit is from 1 to 999 (leave it empty for none)."),
        "catalog.status_invalid": N_("Choose a valid status."),
        "catalog.stock_insufficient": N_("Cannot remove more stock than is left."),
        "product.not_found": N_("No such product."),
        "sku.not_found": N_("No such item."),
        "media.empty": N_("Choose a picture to upload."),
        "media.too_large": N_("A picture may be at most 5 MB."),
        "media.type": N_("Upload a JPEG, PNG or WebP picture."),
    }
)

LOW_STOCK = 10  # "only N left" from here down
SKU_ROWS = 3  # SKU rows in the new-product form (empty rows are ignored)


def image_url(p: Product) -> str | None:
    return f"/media/{p.image}" if p.image else None


def stock_state(skus: list[Sku]) -> tuple[str, int]:
    """('sold_out' | 'low' | 'in_stock', units left) over a product's SKUs."""
    left = sum(k.stock for k in skus)
    return ("sold_out" if left == 0 else "low" if left <= LOW_STOCK else "in_stock"), left


def _cards(s: Session, products: list[Product]) -> list[dict]:
    skus = service.skus_of(s, [p.id for p in products])
    cards = []
    for p in products:
        ks = skus[p.id]
        prices = sorted({k.price for k in ks})
        state, left = stock_state(ks)
        cards.append({"product": p, "skus": ks, "image": image_url(p), "price": prices[0] if prices else 0, "from": len(prices) > 1, "state": state, "left": left})
    return cards


# --- member H5: shop and product --------------------------------------------------------------


@router.get("/m/shop")
def shops(page: PageDep, s: DB) -> Response:
    """The shops: the member's own (by home community) directly, else the list."""
    if page.who is not None:
        home = community.home_community(s, page.who.member_id)
        if home is not None:
            return page.redirect(f"/m/shop/{home.merchant_id}")
    merchants: dict[int, str] = {}
    for c in community.public_communities(s, limit=500):
        if c.merchant_id not in merchants:
            try:
                merchants[c.merchant_id] = identity.public_merchant(s, c.merchant_id).name
            except DomainError:
                continue
    return page.render("catalog/shops.html", merchants=sorted(merchants.items()))


@router.get("/m/shop/{mid}")
def shop(mid: Id, page: PageDep, s: DB) -> Response:
    merchant = identity.public_merchant(s, mid)
    category = page.request.query_params.get("category") or None
    products = service.public_products(s, mid, category[:40] if category else None)
    home = community.home_community(s, page.who.member_id, mid) if page.who else None
    return page.render(
        "catalog/shop.html", merchant=merchant, cards=_cards(s, products), categories=service.categories(s, mid), category=category, home=home,
        blocks=shop_blocks(page, s, mid),
    )


@router.get("/m/products/{pid}")
def product(pid: Id, page: PageDep, s: DB) -> Response:
    p = service.public_product(s, pid)
    merchant = identity.public_merchant(s, p.merchant_id)
    card = _cards(s, [p])[0]
    chosen = next((k for k in card["skus"] if k.stock > 0), card["skus"][0] if card["skus"] else None)
    return page.render("catalog/product.html", merchant=merchant, card=card, chosen=chosen, blocks=shop_blocks(page, s, p.merchant_id, p.id))


# --- console: products -------------------------------------------------------------------------


def _console(page: Page, s: Session, view: MerchantView, *, state: dict | None = None, status: int = 200, error: DomainError | str | None = None) -> Response:
    products = service.list_products(s, page.who, view.merchant.id)
    return page.render(
        "catalog/console_products.html", status=status, error=error, view=view, cards=_cards(s, products), state=state or {},
        can_manage=view.can(Permission.manage_catalog), sku_rows=SKU_ROWS, section="products",
    )


@merchant_section(order=20)
def products_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    products = service.list_products(s, page.who, view.merchant.id)
    skus = service.skus_of(s, [p.id for p in products])
    active = [p for p in products if p.status == "active"]
    low = [(p, k) for p in active for k in skus[p.id] if k.stock <= LOW_STOCK]
    context = {"page": page, "translations": page.translations, "view": view, "active": len(active), "archived": len(products) - len(active), "low": low[:5], "low_count": len(low)}
    return Markup(templating.render("catalog/_section.html", context))


@router.get("/console/merchants/{mid}/products")
def console_products(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _console(page, s, merchant_view(s, who, mid))


def _sku_inputs(form: FormData) -> list[service.SkuInput]:
    rows = []
    for i in range(SKU_ROWS):
        name, price, stock = (text(form, f"sku_{f}_{i}") for f in ("name", "price", "stock"))
        if not (name or price or stock):
            continue
        rows.append(service.SkuInput(name, yuan_field(price), int_field(stock or "0")))
    return rows


@router.post("/console/merchants/{mid}/products")
def create_product(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    view = merchant_view(s, who, mid)
    try:
        with attempt(s):
            p, _ = service.create_product(
                s, who, mid, text(form, "name"), text(form, "category"), _sku_inputs(form), now,
                description=text(form, "description"), limit_per_member=int_field(text(form, "limit_per_member"), required=False),
            )
    except DomainError as exc:
        values = {k: text(form, k) for k in form.keys() if k != "csrf_token"}
        return _console(page, s, view, state={"create": values, "create_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/products#product-{p.id}")


def _product_error(page: Page, s: Session, view: MerchantView, pid: int, exc: DomainError) -> Response:
    return _console(page, s, view, state={"product": pid, "product_error": page.error_text(exc)}, status=exc.status)


@router.post("/console/merchants/{mid}/products/{pid}/image")
def upload_image(mid: Id, pid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, ctx: Ctx) -> Response:
    """A product picture (multipart; the path ends in /image so the body limit allows it)."""
    view = merchant_view(s, who, mid)
    file = form.get("picture")
    try:
        with attempt(s):
            data = file.file.read(media.MAX_IMAGE_BYTES + 1) if isinstance(file, UploadFile) else b""
            service.save_image(s, who, mid, pid, data, ctx.settings.media_dir)
    except DomainError as exc:
        return _product_error(page, s, view, pid, exc)
    return page.redirect(f"/console/merchants/{mid}/products#product-{pid}")


@router.post("/console/merchants/{mid}/products/{pid}/status")
def set_status(mid: Id, pid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho) -> Response:
    view = merchant_view(s, who, mid)
    try:
        with attempt(s):
            service.update_product(s, who, mid, pid, status=text(form, "status"))
    except DomainError as exc:
        return _product_error(page, s, view, pid, exc)
    return page.redirect(f"/console/merchants/{mid}/products#product-{pid}")


@router.post("/console/merchants/{mid}/skus/{sku_id}/stock")
def add_stock(mid: Id, sku_id: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho) -> Response:
    view = merchant_view(s, who, mid)
    raw_pid = text(form, "product_id")
    pid = int(raw_pid) if raw_pid.isascii() and raw_pid.isdigit() else 0
    try:
        with attempt(s):
            sku = service.update_sku(s, who, mid, sku_id, add_stock=int_field(text(form, "add")))
    except DomainError as exc:
        return _product_error(page, s, view, pid, exc)
    return page.redirect(f"/console/merchants/{mid}/products#product-{sku.product_id}")
