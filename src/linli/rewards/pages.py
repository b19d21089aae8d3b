"""Rewards pages.

Member H5: the wallet ``/m/wallet/{mid}`` (points available / pending / expiring soon, stored
value principal and bonus, level with progress, coupons by status with their terms in plain
words), the shop's coupons ``/m/coupons/{mid}`` and the "领券" block on the shop and product
pages (``web.member.shop_block``), and the checkout block (``web.member.checkout_block``):
the best applicable coupon preselected, points and stored value to use, previewed.

Console: coupon templates — counts, the create form for the four kinds with scope and
validity, issuing to members by phone or id, deactivating — and a merchant-page section.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.catalog import service as catalog
from linli.community import service as community
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import BP_WHOLE, format_yuan, parse_yuan
from linli.rewards import coupons, rules, wallet
from linli.rewards.models import Coupon, CouponTemplate
from linli.schema import Id
from linli.timeutil import SHANGHAI, local_time
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.member import Cart, Offer, checkout_block, shop_block
from linli.web.pages import ConsoleWho, Form, MemberWho, Page, PageDep, attempt, error_messages, safe_next, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "coupon.name_invalid": N_("A coupon has a name of 1 to 40 characters."),
        "coupon.kind_invalid": N_("Choose the kind of coupon."),
        "coupon.total_invalid": N_("Issue 1 to 10,000,000 coupons in all."),
        "coupon.per_member_invalid": N_("Each member may hold 1 to 100 (and at most the total)."),
        "coupon.amount_invalid": N_("The amount off is between 0.01 and 1,000,000 yuan."),
        "coupon.threshold_invalid": N_("The spend threshold must be above the amount off."),
        "coupon.percent_invalid": N_("The percentage off is between 0.01 and 99.99."),
        "coupon.cap_invalid": N_("The cap is between 0 (none) and 1,000,000 yuan."),
        "coupon.gift_sku_required": N_("Choose the gift."),
        "coupon.gift_sku_unknown": N_("The gift is not a product of this shop."),
        "coupon.valid_days_invalid": N_("Valid for 1 to 3650 days after claiming."),
        "coupon.validity_required": N_("Give an end date or a number of days after claiming."),
        "coupon.validity_invalid": N_("The end must be after the start."),
        "coupon.date_format": N_("Enter a date like 2026-12-31."),
        "coupon.number_format": N_("Enter a whole number."),
        "coupon.amount_format": N_("Enter an amount in yuan with at most 2 decimals, e.g. 10 or 9.90."),
        "coupon.scope_unknown": N_("A product in the scope is not this shop's."),
        "coupon.scope_invalid": N_("Choose at least one category or product for the scope."),
        "coupon.template_not_found": N_("No such coupon."),
        "coupon.inactive": N_("This coupon is no longer issued."),
        "coupon.ended": N_("This coupon has ended."),
        "coupon.member_limit": N_("You already hold as many of this coupon as allowed."),
        "coupon.sold_out": N_("All of these coupons have been claimed."),
        "coupon.members_invalid": N_("Enter 1 to 1000 different mobile numbers or member ids."),
        "coupon.not_found": N_("No such coupon."),
        "coupon.not_valid_now": N_("This coupon is not valid now."),
        "coupon.in_use": N_("This coupon is already used or held by another order."),
        "coupon.not_applicable": N_("This order does not meet the coupon's terms."),
        "coupon.not_with_campaign": N_("A campaign price cannot be combined with a coupon."),
        "points.format": N_("Enter the points as a whole number."),
        "points.invalid": N_("Points cannot be negative."),
        "points.insufficient": N_("Not enough points."),
        "points.over_cap": N_("Points may pay at most half of the order."),
        "points.changed": N_("Your points changed meanwhile; try again."),
        "stored_value.format": N_("Enter the stored value to use in yuan with at most 2 decimals."),
        "stored_value.insufficient": N_("Not enough stored value."),
        "member.not_found": N_("No such member."),
    }
)

KIND_NAMES = {"fixed": N_("Amount off"), "threshold": N_("Spend and save"), "percent": N_("Percent off"), "gift": N_("Free gift")}
STATUS_NAMES = {"unused": N_("Unused"), "locked": N_("Held by an unpaid order"), "used": N_("Used"), "expired": N_("Expired")}
SHOP_BLOCK_SHOWN = 6  # coupons in the shop page's block; the rest on the shop's coupons page
MEMBERS_PER_ISSUE = 1000


# --- coupon terms in plain words ---------------------------------------------------------------


def _yuan(fen: int) -> str:
    """12.50 → "12.5", 5000 → "50": how coupons name amounts (满50减10, 9.9元)."""
    return format_yuan(fen).rstrip("0").rstrip(".")


def terms_text(page: Page, t: CouponTemplate, gift_names: Mapping[int, str] | None = None) -> str:
    """满50减10 · 8.5折 最高减20元 · 立减5元 · 赠品：… (in the page's language)."""
    if t.kind == "threshold":
        return page._(N_("Spend ¥%(threshold)s, get ¥%(amount)s off")) % {"threshold": _yuan(t.threshold), "amount": _yuan(t.amount)}
    if t.kind == "fixed":
        return page._(N_("¥%(amount)s off")) % {"amount": _yuan(t.amount)}
    if t.kind == "percent":
        args = {"pct": f"{t.percent_bp / 100:g}", "fold": f"{(BP_WHOLE - t.percent_bp) / 1000:g}", "cap": _yuan(t.cap)}  # 1500 bp off = 8.5折
        return page._(N_("%(pct)s%% off, at most ¥%(cap)s")) % args if t.cap else page._(N_("%(pct)s%% off")) % args
    gift = (gift_names or {}).get(t.gift_sku_id or 0) or page._(N_("a gift"))
    return page._(N_("Free gift: %(gift)s")) % {"gift": gift}


def scope_text(page: Page, t: CouponTemplate) -> str:
    if t.categories and not t.products:
        return page._(N_("Only for %(categories)s")) % {"categories": "、".join(t.categories)}
    if t.categories or t.products:
        return page._(N_("Only for selected products"))
    return page._(N_("For everything in the shop"))


def template_validity(page: Page, t: CouponTemplate) -> str:
    if t.valid_days:
        return page._(N_("Valid %(n)s days after claiming")) % {"n": t.valid_days}
    if t.valid_to:
        return page._(N_("Valid until %(date)s")) % {"date": _last_day(t.valid_to)}
    return ""


def coupon_validity(page: Page, c: Coupon) -> str:
    if c.valid_to is None:
        return page._(N_("No end date"))
    return page._(N_("Valid until %(date)s")) % {"date": local_time(c.valid_to, "%Y-%m-%d %H:%M")}


def _last_day(end: datetime) -> str:
    """An end instant shown as the last day it covers (an end at 00:00 covers the day before)."""
    return local_time(end - timedelta(seconds=1), "%Y-%m-%d")


def _gift_names(s: Session, templates: list[CouponTemplate]) -> dict[int, str]:
    views = catalog.sku_views(s, [t.gift_sku_id for t in templates if t.gift_sku_id])
    return {sid: f"{v.product_name} · {v.sku_name}" for sid, v in views.items()}


def _card(page: Page, s: Session, t: CouponTemplate, gifts: Mapping[int, str]) -> dict[str, Any]:
    return {"t": t, "terms": terms_text(page, t, gifts), "scope": scope_text(page, t), "validity": template_validity(page, t)}


def _render(page: Page, name: str, **context: Any) -> Markup:
    return Markup(templating.render(name, {"page": page, "translations": page.translations, **context}))


# --- member H5: claiming (shop and product pages, the shop's coupons page) ---------------------------


def _claim_cards(page: Page, s: Session, merchant_id: int, product_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """The templates a member may claim here (on a product page: those that apply to it),
    each with whether the caller already holds as many as allowed."""
    found = coupons.claimable(s, merchant_id, now)
    if product_id is not None:
        try:
            p = catalog.public_product(s, product_id)
        except DomainError:
            return []
        found = [t for t in found if rules.in_scope(coupons.terms_of(t), p.id, p.category)]
    held: dict[int, int] = {}
    if page.who is not None:
        for c, _ in coupons.my_coupons(s, page.who.member_id, merchant_id, now):
            held[c.template_id] = held.get(c.template_id, 0) + 1
    gifts = _gift_names(s, found)
    return [{**_card(page, s, t, gifts), "held": held.get(t.id, 0), "full": held.get(t.id, 0) >= t.per_member} for t in found]


def _block(page: Page, s: Session, merchant_id: int, product_id: int | None, now: datetime, *, notice: str | None = None, error: str | None = None) -> Markup | None:
    cards = _claim_cards(page, s, merchant_id, product_id, now)
    if not cards and not (notice or error):
        return None
    back = page.here or (f"/m/products/{product_id}" if product_id else f"/m/shop/{merchant_id}")
    return _render(page, "rewards/_claim_block.html", cards=cards[:SHOP_BLOCK_SHOWN], more=len(cards) > SHOP_BLOCK_SHOWN, merchant_id=merchant_id,
                   product_id=product_id, back=back, notice=notice, error=error)


@shop_block(order=10)
def claim_block(page: Page, s: Session, merchant_id: int, product_id: int | None) -> Markup | None:
    """领券 on the shop and product pages."""
    return _block(page, s, merchant_id, product_id, page.ctx.now())


def _shop_coupons(page: Page, s: Session, mid: int, now: datetime, *, error: str | None = None, status: int = 200) -> Response:
    merchant = identity.public_merchant(s, mid)
    notice = page._(N_("Coupon claimed: it is in your wallet.")) if page.request.query_params.get("claimed") == "1" else None
    return page.render("rewards/shop_coupons.html", status=status, merchant=merchant, cards=_claim_cards(page, s, mid, None, now), error=error, notice=notice)


@router.get("/m/coupons/{mid}")
def shop_coupons(mid: Id, page: PageDep, s: DB, now: Now) -> Response:
    return _shop_coupons(page, s, mid, now)


@router.post("/m/coupons/claim/{tid}")
def claim(tid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """Claim one coupon. From the shop or product page's block (HTMX) the block comes back
    with the answer; without JavaScript, back to the page it was on (or, on a refusal, the
    shop's coupons page with the reason)."""
    raw_product = text(form, "product_id")
    product_id = int(raw_product) if raw_product.isascii() and raw_product.isdigit() and len(raw_product) <= 18 else None
    merchant_id = None
    try:
        with attempt(s):
            c = coupons.claim(s, who.member_id, tid, now)
            merchant_id = c.merchant_id
    except DomainError as exc:
        t = s.get(CouponTemplate, tid)
        if t is None or exc.code in ("coupon.template_not_found", "merchant.not_found"):
            raise
        if page.is_htmx:
            return page.finish(Response(_block(page, s, t.merchant_id, product_id, now, error=page.error_text(exc)) or "", status_code=200, media_type="text/html"))
        return _shop_coupons(page, s, t.merchant_id, now, error=page.error_text(exc), status=exc.status)
    if page.is_htmx:
        html = _block(page, s, merchant_id, product_id, now, notice=page._(N_("Coupon claimed: it is in your wallet."))) or ""
        return page.finish(Response(html, status_code=200, media_type="text/html"))
    back = safe_next(text(form, "next"), f"/m/coupons/{merchant_id}?claimed=1")
    return page.redirect(back)


# --- member H5: the wallet ------------------------------------------------------------------------------


@router.get("/m/wallet")
def my_wallet(page: PageDep, s: DB, who: MemberWho) -> Response:
    """The wallet at the member's own shop (by home community), else the shops."""
    home = community.home_community(s, who.member_id)
    return page.redirect(f"/m/wallet/{home.merchant_id}" if home else "/m/shop")


@router.get("/m/wallet/{mid}")
def wallet_page(mid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    merchant = identity.public_merchant(s, mid)
    w = wallet.of(s, who.member_id, mid, now)
    rows = coupons.my_coupons(s, who.member_id, mid, now)
    gifts = _gift_names(s, [t for _, t in rows])
    by_status: dict[str, list[dict[str, Any]]] = {"unused": [], "used": [], "expired": []}
    for c, t in rows:
        status = coupons.status_of(c, now)
        entry = {"c": c, "t": t, "status": status, "terms": terms_text(page, t, gifts), "scope": scope_text(page, t), "validity": coupon_validity(page, c)}
        by_status["unused" if status == "locked" else status].append(entry)
    by_status["used"].sort(key=lambda e: e["c"].used_at or e["c"].created_at, reverse=True)
    progress = None
    if w.next_at:
        progress = {"value": min(w.growth, w.next_at), "max": w.next_at, "left": max(w.next_at - w.growth, 0)}
    return page.render("rewards/wallet.html", merchant=merchant, w=w, coupons=by_status, progress=progress, status_names=STATUS_NAMES)


# --- member H5: the checkout block ---------------------------------------------------------------------


def _best(usable: list[tuple[Coupon, CouponTemplate, int]]) -> tuple[Coupon, CouponTemplate, int] | None:
    """The coupon taking most off; of equals, the one ending soonest."""
    far = datetime.max.replace(tzinfo=SHANGHAI)
    return max(usable, key=lambda u: (u[2], -(u[0].valid_to or far).timestamp(), -u[0].id), default=None)


@checkout_block(order=10)
def checkout_rewards(page: Page, s: Session, cart: Cart, values: Mapping[str, str]) -> Offer | None:
    """Coupon (the best one preselected on the first view), points and stored value, with
    what each takes off. The order's pricing step checks all of it again."""
    now = cart.now
    lines = [rules.ScopedLine(ln.sku_id, ln.product_id, ln.category, ln.amount, ln.unit_price) for ln in cart.lines]
    usable, unusable = [], []
    mine = [(c, t) for c, t in coupons.my_coupons(s, cart.member_id, cart.merchant_id, now, "unused") if c.valid_from <= now]
    if not cart.campaign:
        for c, t in mine:
            off, _ = rules.discount(coupons.terms_of(t), lines)
            off = rules.capped_for_payable(off, cart.subtotal)
            (usable if off > 0 else unusable).append((c, t, off))
    first_view = "coupon_id" not in values
    raw = (values.get("coupon_id") or "").strip()
    chosen = _best(usable) if first_view else next((u for u in usable if str(u[0].id) == raw), None)
    coupon_off = chosen[2] if chosen else 0
    w = wallet.of(s, cart.member_id, cart.merchant_id, now)
    after_coupon = cart.subtotal - coupon_off
    max_points = rules.max_points_for(after_coupon, w.points_available)
    problems: dict[str, str] = {}
    points = _whole(values.get("points", ""))
    if points is None:
        problems["points"], points = page._(N_("Enter the points as a whole number.")), 0
    elif points > max_points:
        problems["points"] = page._(N_("At most %(n)s points on this order.")) % {"n": max_points}
        points = 0
    sv_balance = w.sv_principal + w.sv_bonus
    max_sv = max(0, min(sv_balance, after_coupon - points))
    sv = _yuan_or_none(values.get("stored_value", ""))
    if sv is None:
        problems["stored_value"], sv = page._(N_("Enter the stored value to use in yuan with at most 2 decimals.")), 0
    elif sv > max_sv:
        problems["stored_value"] = page._(N_("At most ¥%(amount)s of stored value on this order.")) % {"amount": format_yuan(max_sv)}
        sv = 0
    if not (mine or w.points_available > 0 or sv_balance > 0):
        return None
    gifts = _gift_names(s, [t for _, t, _ in usable + unusable])
    rows: list[tuple[str, int]] = []
    if chosen:
        rows.append((page._(N_("Coupon: %(name)s")) % {"name": chosen[1].name}, coupon_off))
    if points:
        rows.append((page._(N_("Points (%(n)s)")) % {"n": points}, points))
    if sv:
        rows.append((page._(N_("Paid from stored value")), sv))
    html = _render(
        page, "rewards/_checkout.html", usable=[{"c": c, "t": t, "off": off, "terms": terms_text(page, t, gifts), "validity": coupon_validity(page, c)} for c, t, off in usable],
        unusable=[{"c": c, "t": t, "terms": terms_text(page, t, gifts)} for c, t, _ in unusable], chosen=chosen[0].id if chosen else None,
        campaign_excludes=cart.campaign and bool(mine), w=w, max_points=max_points, points=values.get("points", ""),
        max_sv=max_sv, sv=values.get("stored_value", ""), problems=problems,
    )
    return Offer(html, tuple(rows))


def _whole(raw: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return 0
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _yuan_or_none(raw: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return 0
    try:
        return parse_yuan(raw)
    except ValueError:
        return None


# --- console: coupon templates -------------------------------------------------------------------------


@merchant_section(order=35)
def coupons_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    stats = coupons.template_stats(s, page.who, view.merchant.id, page.ctx.now())
    active = [st for st in stats if st.template.active]
    return _render(page, "rewards/_section.html", view=view, active=len(active), issued=sum(st.template.issued for st in stats), used=sum(st.used for st in stats))


def _console(page: Page, s: Session, who: Principal, mid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    stats = coupons.template_stats(s, who, mid, now)
    gifts = _gift_names(s, [st.template for st in stats])
    products = catalog.list_products(s, who, mid, include_archived=False)
    skus = catalog.skus_of(s, [p.id for p in products])
    rows = [{**_card(page, s, st.template, gifts), "used": st.used, "expired": st.expired, "unused": st.unused} for st in stats]
    return page.render(
        "rewards/console_coupons.html", status=status, view=view, rows=rows, state=state or {}, can_manage=view.can(Permission.manage_campaigns),
        kinds=KIND_NAMES, products=products, skus=skus, categories=catalog.categories(s, mid),
    )


@router.get("/console/merchants/{mid}/coupons")
def console_coupons(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _console(page, s, who, mid, now)


def _amount(raw: str, field: str, *, required: bool = True) -> int:
    if not raw:
        if required:
            raise Invalid("coupon.amount_format", "Enter an amount in yuan.", field=field)
        return 0
    try:
        return parse_yuan(raw)
    except ValueError:
        raise Invalid("coupon.amount_format", "Enter an amount in yuan with at most 2 decimals.", field=field) from None


def _number(raw: str, field: str, *, required: bool = True) -> int | None:
    if not raw and not required:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid("coupon.number_format", "Enter a whole number.", field=field)
    return int(raw)


def _day(raw: str, field: str) -> datetime | None:
    """A date typed as YYYY-MM-DD: the start of that Shanghai day."""
    if not raw:
        return None
    try:
        d = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise Invalid("coupon.date_format", "Enter a date like 2026-12-31.", field=field) from None
    return d.replace(tzinfo=SHANGHAI)


def template_input(form: FormData) -> coupons.TemplateIn:
    """The create form → the service's input; what cannot be read is an error on its field."""
    kind = text(form, "kind")
    amount = threshold = percent_bp = cap = 0
    gift = None
    if kind in ("fixed", "threshold"):
        amount = _amount(text(form, "amount"), "amount")
    if kind == "threshold":
        threshold = _amount(text(form, "threshold"), "threshold")
    if kind == "percent":
        try:
            percent_bp = parse_yuan(text(form, "percent"))  # "15" → 1500 bp, "12.5" → 1250
        except ValueError:
            raise Invalid("coupon.percent_invalid", "Enter the percentage off.", field="percent") from None
        cap = _amount(text(form, "cap"), "cap", required=False)
    if kind == "gift":
        gift = _number(text(form, "gift_sku_id"), "gift_sku_id", required=False)
        if gift is None:
            raise Invalid("coupon.gift_sku_required", "Choose the gift.", field="gift_sku_id")
    scope = text(form, "scope")
    categories = tuple(v.strip()[:41] for v in form.getlist("categories") if isinstance(v, str) and v.strip()) if scope == "categories" else ()
    products = tuple(int(v) for v in form.getlist("products") if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 18) if scope == "products" else ()
    if scope in ("categories", "products") and not (categories or products):
        raise Invalid("coupon.scope_invalid", "Choose at least one category or product.", field="scope")
    valid_days = valid_from = valid_to = None
    if text(form, "validity") == "days":
        valid_days = _number(text(form, "valid_days"), "valid_days")
    else:
        valid_from = _day(text(form, "valid_from"), "valid_from")
        last = _day(text(form, "valid_to"), "valid_to")
        valid_to = last + timedelta(days=1) if last else None  # through the end of that day
    return coupons.TemplateIn(
        name=text(form, "name"), kind=kind, total=_number(text(form, "total"), "total"), per_member=_number(text(form, "per_member") or "1", "per_member"),
        amount=amount, threshold=threshold, percent_bp=percent_bp, cap=cap, gift_sku_id=gift, categories=categories, products=products,
        valid_from=valid_from, valid_to=valid_to, valid_days=valid_days, claimable=text(form, "claimable") == "1",
    )


FIELD_OF = {"percent_bp": "percent", "categories": "scope", "products": "scope", "member_ids": "members"}


@router.post("/console/merchants/{mid}/coupons")
def create_template(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            t = coupons.create_template(s, who, mid, template_input(form), now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        values: dict[str, Any] = {k: text(form, k)[:80] for k in form.keys() if k not in ("csrf_token", "categories", "products")}
        values["categories"] = [v for v in form.getlist("categories") if isinstance(v, str)]
        values["products"] = [v for v in form.getlist("products") if isinstance(v, str)]
        field = exc.extra.get("field")
        state = {"create": values, "create_error": page.error_text(exc), "field": FIELD_OF.get(field, field)}
        return _console(page, s, who, mid, now, state=state, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/coupons#template-{t.id}")


def _members(s: Session, raw: str, now: datetime) -> list[int]:
    """Mobile numbers or member ids, separated by commas, spaces or new lines."""
    parts = [p for p in raw.replace("，", ",").replace(",", " ").split() if p]
    if not 1 <= len(parts) <= MEMBERS_PER_ISSUE:
        raise Invalid("coupon.members_invalid", "Name 1 to 1000 members.", field="members")
    ids = []
    for p in parts:
        if p.isascii() and p.isdigit() and len(p) < 11:
            ids.append(int(p))
        else:  # a mobile number: the member it belongs to (a new number becomes a member, as when appointing a sharer)
            ids.append(identity.get_or_create_member(s, p, now).id)
    return ids


@router.post("/console/merchants/{mid}/coupons/{tid}/issue")
def issue(mid: Id, tid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    raw = text(form, "members")[:20_000]
    try:
        with attempt(s):
            identity.require_permission(s, who, mid, Permission.manage_campaigns)
            given = coupons.issue(s, who, mid, tid, _members(s, raw, now), now)
    except DomainError as exc:
        if exc.code in ("merchant.not_found", "coupon.template_not_found"):
            raise
        return _console(page, s, who, mid, now, state={"row": tid, "row_error": page.error_text(exc), "members": raw[:2000]}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/coupons?issued={len(given)}#template-{tid}")


@router.post("/console/merchants/{mid}/coupons/{tid}/active")
def set_active(mid: Id, tid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho) -> Response:
    try:
        with attempt(s):
            coupons.set_active(s, who, mid, tid, text(form, "active") == "1")
    except DomainError as exc:
        if exc.code in ("merchant.not_found", "coupon.template_not_found"):
            raise
        return _console(page, s, who, mid, page.ctx.now(), state={"row": tid, "row_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/coupons#template-{tid}")
