"""Member H5 order pages: checkout (pickup point or delivery address, price breakdown, then
the payment sheet), my orders, and the order page (status, pickup code and QR, timeline,
receipt, cancel, refund requests with photos; while a completed payment's callback is on its
way the page polls with HTMX until the order is paid).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from linli import media
from linli.catalog import service as catalog
from linli.community import service as community
from linli.errors import DomainError, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import ports, service
from linli.orders.rules import Status
from linli.orders.service import aftersales
from linli.orders.views import NAMES, merchant_name, order_view, query_int
from linli.payments import service as payments
from linli.schema import Id
from linli.web import member
from linli.web.deps import DB, Ctx, Now, client_ip
from linli.web.deps import router as deps_router
from linli.web.forms import yuan_field
from linli.web.pages import Form, MemberWho, Page, PageDep, attempt, text

router = deps_router(include_in_schema=False)

MAX_POLLS = 120  # the order page stops polling for the payment callback after ~2 minutes


def _int(raw: str, code: str, detail: str) -> int:
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid(code, detail)
    return int(raw)



# --- member H5: checkout --------------------------------------------------------------------------


def _sku(s: Session, sku_id: int):
    v = catalog.sku_views(s, [sku_id]).get(sku_id)
    if v is None or not v.active:
        raise NotFound("product.not_found", "No such product.")
    return v


def _offers(page: Page, s: Session, who: Principal, v, qty: int, campaign_id: int | None, team_id: int | None, values: dict) -> dict:
    """The price part of the checkout: the unit price (a campaign order, a live offer or a
    team to open or join, shows the campaign price), what other domains' checkout blocks
    offer (rewards: coupon, points, stored value; ``web.member``) and what is left to pay."""
    unit = ports.campaign.get().quote(s, campaign_id, team_id, who.member_id, v.sku_id) if (campaign_id or team_id) else None
    line = member.CartLine(v.sku_id, v.product_id, v.category, qty, unit if unit is not None else v.price, unit is not None)
    cart = member.Cart(v.merchant_id, who.member_id, (line,), page.ctx.now(), campaign=bool(campaign_id or team_id))
    offers = member.checkout_offers(page, s, cart, values)
    return {"subtotal": cart.subtotal, "offers": offers, "to_pay": max(cart.subtotal - sum(o.off for o in offers), 0)}


def _checkout(page: Page, s: Session, who: Principal, sku_id: int, qty: int, *, values: dict | None = None, status: int = 200, error: DomainError | None = None) -> Response:
    v = _sku(s, sku_id)
    campaign_id = query_int(page, "campaign") if values is None else _int_or_none(values.get("campaign", ""))
    team_id = query_int(page, "team") if values is None else _int_or_none(values.get("team", ""))
    merchant = identity.public_merchant(s, v.merchant_id)
    member_ = identity.get_member(s, who.member_id)
    home = community.home_community(s, who.member_id, v.merchant_id)
    communities = community.public_communities(s, v.merchant_id, limit=500)
    points = community.pickup_points_of(s, [c.id for c in communities])
    groups = [(c, [p for p in points[c.id] if p.active]) for c in communities]
    home_points = next((ps for c, ps in groups if home and c.id == home.id), [])
    others = [(c, ps) for c, ps in groups if ps and not (home and c.id == home.id)]
    if values is None:
        near = home or (communities[0] if communities else None)
        values = {
            "mode": "pickup", "pickup_point_id": str(home_points[0].id) if home_points else "",
            "name": member_.nickname, "phone": member_.phone, "text": "",
            "lat": f"{near.lat:.6f}" if near else "", "lng": f"{near.lng:.6f}" if near else "",
            "idem": idempotency_key(), "campaign": str(campaign_id or ""), "team": str(team_id or ""),
        }
    return page.render(
        "orders/checkout.html", status=status, error=error, merchant=merchant, sku=v, qty=qty,
        home=home, home_points=home_points, others=others, values=values, **_offers(page, s, who, v, qty, campaign_id, team_id, values),
    )


@router.post("/m/checkout/preview")
def checkout_preview(page: PageDep, form: Form, s: DB, who: MemberWho) -> Response:
    """The price part of the checkout again with the member's choices (HTMX, on a change)."""
    values = {k: text(form, k) for k in CHECKOUT_FIELDS}
    v = _sku(s, _int(values["sku"], "order.sku_unknown", "An item is not sold by this shop."))
    qty = _int(values["qty"], "order.qty_invalid", "Quantities must be at least 1.")
    context = _offers(page, s, who, v, min(max(qty, 1), 9999), _int_or_none(values["campaign"]), _int_or_none(values["team"]), values)
    return page.render("orders/_offers.html", **context)


def idempotency_key() -> str:
    return uuid.uuid4().hex


@router.get("/m/checkout")
def checkout(page: PageDep, s: DB, who: MemberWho) -> Response:
    sku_id = query_int(page, "sku")
    if sku_id is None:
        raise NotFound("product.not_found", "No such product.")
    qty = query_int(page, "qty") or 1
    return _checkout(page, s, who, sku_id, min(max(qty, 1), 9999))


def _address(values: dict[str, str]) -> service.Address:
    try:
        lat, lng = float(values["lat"]), float(values["lng"])
    except ValueError:
        raise Invalid("community.location_invalid", "Latitude must be within ±90 and longitude within ±180.") from None
    return service.Address(values["name"], values["phone"], values["text"], lat, lng)


CHECKOUT_FIELDS = ("sku", "qty", "mode", "pickup_point_id", "name", "phone", "text", "lat", "lng", "idem", "campaign", "team", *member.CHECKOUT_FIELDS)


def _int_or_none(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


def _new_order(s: Session, values: dict[str, str], sku_id: int, qty: int) -> service.NewOrder:
    """The form's order (built once its key is claimed: a replay does not read the form again)."""
    v = catalog.sku_views(s, [sku_id]).get(sku_id)
    if v is None:
        raise Invalid("order.sku_unknown", "An item is not sold by this shop.")
    choice = member.checkout_choice(values)
    in_campaign = {"campaign_id": _int_or_none(values["campaign"]), "team_id": _int_or_none(values["team"]), "coupon_id": choice.coupon_id, "points": choice.points, "stored_value": choice.stored_value}
    if values["mode"] == "delivery":
        return service.NewOrder(v.merchant_id, [(sku_id, qty)], address=_address(values), **in_campaign)
    point = values["pickup_point_id"]
    return service.NewOrder(v.merchant_id, [(sku_id, qty)], pickup_point_id=int(point) if point.isascii() and point.isdigit() else None, **in_campaign)


def _next_page(placed: service.Placed) -> tuple[dict, int]:
    """Where the form goes: a flash-sale rush waits its turn (orders/queue_pages.py), an
    order to pay opens its payment sheet, one paid at once shows itself."""
    if placed.ticket is not None:
        target = f"/m/orders/queued/{placed.ticket}"
    elif placed.payment is not None:
        target = f"/m/pay/{placed.payment.id}"
    else:
        target = f"/m/orders/{placed.order.id}"
    return {"next": target}, 303


@router.post("/m/checkout")
def place_order(page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """Place the order and open its payment, once per form (the form's idempotency key
    makes a double tap or a resent form land on the same order)."""
    values = {k: text(form, k) for k in CHECKOUT_FIELDS}
    sku_id = _int(values["sku"], "order.sku_unknown", "An item is not sold by this shop.")
    try:
        with attempt(s):
            qty = _int(values["qty"], "order.qty_invalid", "Quantities must be at least 1.")

            placed = service.place_order(
                s, who.member_id, lambda: _new_order(s, values, sku_id, qty), now, key=values["idem"] or None, scope="pages.checkout", request=values,
                answer=_next_page, keep_queued=True, pay=True,
            )
            target = placed.response["next"]
    except DomainError as exc:
        raw_qty = values["qty"]
        qty = int(raw_qty) if raw_qty.isascii() and raw_qty.isdigit() and 0 < len(raw_qty) <= 4 else 1
        return _checkout(page, s, who, sku_id, max(qty, 1), values=values, status=exc.status, error=exc)
    return page.redirect(target)


# --- member H5: my orders and the order page ---------------------------------------------------------


@router.get("/m/orders")
def my_orders(page: PageDep, s: DB, who: MemberWho) -> Response:
    before = query_int(page, "before")
    orders = service.member_orders(s, who.member_id, limit=30, before_id=before)
    lines = service.lines_for(s, [o.id for o in orders])
    merchants = {mid: merchant_name(s, mid) for mid in {o.merchant_id for o in orders}}
    leads = bool(community.communities_led_by(s, who.member_id))
    return page.render("orders/my_orders.html", orders=orders, lines=lines, merchants=merchants, leads=leads, more=len(orders) == 30, **NAMES)


def _order_page(page: Page, s: Session, who: Principal, oid: int, *, state: dict | None = None, status: int = 200, error: DomainError | str | None = None, fragment: bool = False) -> Response:
    d = service.member_order(s, who.member_id, oid)
    polls = query_int(page, "n") or 0
    confirming = page.request.query_params.get("confirming") == "1" and d.order.status == Status.pending_payment.value
    context = {**order_view(s, d), **NAMES, "state": state or {}, "confirming": confirming, "polls": polls, "max_polls": MAX_POLLS}
    name = "orders/_order.html" if fragment else "orders/order.html"
    return page.render(name, status=status, error=error, **context)


@router.get("/m/orders/{oid}")
def order_page(oid: Id, page: PageDep, s: DB, who: MemberWho) -> Response:
    return _order_page(page, s, who, oid)


@router.get("/m/orders/{oid}/live")
def order_live(oid: Id, page: PageDep, s: DB, who: MemberWho) -> Response:
    """The order part of the order page, polled (hx-trigger every 1s) while the payment
    callback is on its way."""
    return _order_page(page, s, who, oid, fragment=True)


def _order_step(page: Page, s: Session, who, oid: int, step) -> Response:
    """A member's step on their order: on a refusal the order page again with the reason,
    else on to where the step leads (the order page unless it says otherwise)."""
    try:
        with attempt(s):
            to = step()
    except DomainError as exc:
        return _order_page(page, s, who, oid, status=exc.status, error=exc)
    return page.redirect(to or f"/m/orders/{oid}")


@router.post("/m/orders/{oid}/pay")
def pay(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """Without a method: the payment sheet. With one (chosen on the sheet): the page that
    opens WeChat's payment sheet (JSAPI) or links to the provider's page (H5, WAP)."""
    method = text(form, "method")
    opened: dict = {}
    if not method and not payments.sandbox_on():
        return _choose_method(page, s, who, oid, now)

    def step():
        if method:
            how = payments.PayWith(method, client_ip=client_ip(page.request), return_url=f"/m/orders/{oid}")
            c = service.pay_with(s, who.member_id, oid, now, how)
            opened.update(c.client if c is not None else {})
            return None
        p = service.start_payment(s, who.member_id, oid, now)
        return f"/m/pay/{p.id}" if p is not None else None

    response = _order_step(page, s, who, oid, step)
    if opened:
        return page.render("payments/provider.html", params=opened, order_id=oid)
    return response


def _choose_method(page: Page, s: Session, who, oid: int, now) -> Response:
    """No sandbox (production): the sheet offers the shop's ways to pay; each opens the
    payment at its provider (the method posts back here)."""
    try:
        with attempt(s):
            o = service.payable(s, who.member_id, oid, now)
    except DomainError as exc:
        return _order_page(page, s, who, oid, status=exc.status, error=exc)
    if o is None:  # nothing was due: paid at once
        return page.redirect(f"/m/orders/{oid}")
    sheet = SimpleNamespace(id=None, order_id=o.id, amount=o.payable, subject="order", gateway="")
    return page.render("payments/sheet.html", payment=sheet, merchant=identity.public_merchant(s, o.merchant_id), back=None,
                       methods=payments.method_choices(s, o.merchant_id))


@router.post("/m/orders/{oid}/cancel")
def cancel(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    return _order_step(page, s, who, oid, lambda: service.cancel_by_member(s, who.member_id, oid, now) and None)


@router.post("/m/orders/{oid}/confirm-receipt")
def confirm_receipt(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    return _order_step(page, s, who, oid, lambda: service.confirm_receipt(s, who.member_id, oid, now) and None)


def _photos(form: FormData) -> list[UploadFile]:
    """The chosen files (a browser sends one empty part when none is chosen)."""
    return [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]


@router.post("/m/orders/{oid}/refunds/uploads")
def request_refund(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, ctx: Ctx, now: Now) -> Response:
    """A refund request for one line: amount in 元 (converted to fen exactly), reason and
    optional photos. Multipart; the path ends in /uploads so the body limit allows photos."""
    values = {k: text(form, k) for k in ("line_id", "amount", "reason")}
    raw_line = values["line_id"]
    line_id = int(raw_line) if raw_line.isascii() and raw_line.isdigit() and len(raw_line) <= 18 else 0
    stored: list[str] = []
    try:
        with attempt(s):
            amount = yuan_field(values["amount"], "refund.amount_format")
            files = _photos(form)
            if len(files) > aftersales.MAX_PHOTOS:
                raise Invalid("refund.photos_invalid", "Attach at most 9 photos.")
            service.member_order(s, who.member_id, oid)  # someone else's order: 404 before any file is kept
            for f in files:
                stored.append(media.store_image(f.file.read(media.MAX_IMAGE_BYTES + 1), ctx.settings.media_dir, f"uploads/{who.member_id}"))
            service.request_refund(s, who.member_id, oid, [(line_id, amount)], values["reason"], stored, now)
    except DomainError as exc:
        for rel in stored:  # the request was refused: its photos are not kept
            (Path(ctx.settings.media_dir) / rel).unlink(missing_ok=True)
        if exc.code == "order.not_found":
            raise
        state = {"line": line_id, "refund_error": page.error_text(exc), "form": values}
        return _order_page(page, s, who, oid, state=state, status=exc.status)
    return page.redirect(f"/m/orders/{oid}#refunds")

