"""Order pages.

Member H5: checkout (pickup point or delivery address, price breakdown, then the payment
sheet), my orders, the order page (status, pickup code and QR, timeline, receipt, cancel,
refund requests with photos; while a completed payment's callback is on its way the page
polls with HTMX until the order is paid), and the leader's pickup desk (到货, 核销).

Console: the merchant page's orders section, the order list with filters, the order page
with staff actions (and the panels other domains add with ``@order_panel``), refund review and the order settings.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from linli import idempotency, media
from linli.campaigns import service as campaign_service
from linli.catalog import service as catalog
from linli.community import service as community
from linli.errors import DomainError, Invalid, NotFound
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import format_yuan
from linli.orders import ports, rules, service
from linli.orders.models import Order
from linli.orders.rules import Status
from linli.orders.schemas import OrderSettingsIO
from linli.orders.service import aftersales
from linli.orders.service import settings as order_settings
from linli.orders.service.queries import OrderDetail
from linli.schema import Id
from linli.timeutil import SHANGHAI
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view, order_panels
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.forms import yuan_field
from linli.web.pages import (
    ConsoleWho,
    Form,
    MemberWho,
    Page,
    PageDep,
    attempt,
    error_messages,
    safe_next,
    text,
)

router = deps_router(include_in_schema=False)





error_messages(
    {
        "order.empty": N_("Choose something to buy."),
        "order.too_many_lines": N_("An order has at most 50 items."),
        "order.qty_invalid": N_("Quantities are whole numbers from 1."),
        "order.qty_over_limit": N_("That is more of one item than one order may hold."),
        "order.sku_unknown": N_("This item is not on sale in this shop."),
        "order.fulfilment_required": N_("Choose a pickup point, or enter a delivery address."),
        "order.pickup_point_invalid": N_("This pickup point does not serve this shop."),
        "order.out_of_delivery_range": N_("This address is too far for delivery; choose a pickup point instead."),
        "order.member_limit": N_("You have reached the purchase limit for this product."),
        "stock.sold_out": N_("Sold out: not enough stock is left for this quantity."),
        "order.not_found": N_("No such order."),
        "order.cancelled": N_("This order was cancelled; place a new one."),
        "order.not_payable": N_("This order is already paid."),
        "order.expired": N_("The order was not paid in time and has been cancelled."),
        "order.not_cancellable": N_("Only unpaid orders can be cancelled; ask for a refund instead."),
        "order.changed": N_("The order changed meanwhile; reload the page."),
        "order.bad_state": N_("The order's status does not allow this now."),
        "order.not_receivable": N_("Only orders ready for pickup or out for delivery can be confirmed."),
        "order.not_pickup": N_("This order is delivered, not picked up."),
        "order.not_delivery": N_("This order is picked up, not delivered."),
        "order.settings_invalid": N_("A setting is out of bounds."),
        "delivery.action_invalid": N_("Choose a valid delivery step."),
        "delivery.note_required": N_("Write what happened."),
        "pickup.code_invalid": N_("Wrong pickup code."),
        "pickup.code_unknown": N_("No order waiting at this pickup point has this code. Check the digits."),
        "pickup.not_your_point": N_("Only this pickup point's leader or the shop's staff may do this."),
        "pickup.locked": N_("Too many wrong codes for this order; the shop's staff must verify it."),
        "pickup.not_open": N_("This order is not waiting for pickup."),
        "pickup.rate_limited": N_("Too many unknown codes; wait a few minutes before trying again."),
        "pickup.codes_exhausted": N_("Could not find a free pickup code; please try again."),
        "pickup_point.not_found": N_("No such pickup point."),
        "community.recipient_invalid": N_("Enter the recipient's name (1 to 30 characters)."),
        "refund.not_paid": N_("This order is not paid; cancel it instead."),
        "refund.not_refundable": N_("This order has no paid money to refund."),
        "refund.reason_required": N_("Say why (1 to 200 characters)."),
        "refund.photos_invalid": N_("Attach at most 9 photos."),
        "refund.lines_required": N_("Choose what to refund."),
        "refund.line_unknown": N_("This item is not part of the order."),
        "refund.amount_invalid": N_("The refund amount must be more than 0."),
        "refund.amount_format": N_("Enter the amount in yuan with at most 2 decimals, e.g. 12.50."),
        "refund.exceeds_paid": N_("That is more than can still be refunded on this item."),
        "refund.already_decided": N_("This refund request was already decided."),
        "refund.not_found": N_("No such refund request."),
        "order.filter_date_invalid": N_("Dates look like 2026-11-22."),
        "order.filter_status_invalid": N_("Choose a status from the list."),
        "idempotency.key_reused": N_("This form was already sent. Reload the page to start again."),
        "idempotency.in_progress": N_("This form is still being processed; wait a moment."),
    }
)

STATUS_NAMES = {
    "pending_payment": N_("Awaiting payment"),
    "paid": N_("Paid"),
    "grouping": N_("Waiting for the group to form"),
    "fulfilling": N_("Preparing"),
    "ready_for_pickup": N_("Ready for pickup"),
    "delivering": N_("Out for delivery"),
    "received": N_("Received"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
ACTION_NAMES = {
    "created": N_("Order placed"),
    "paid": N_("Payment received"),
    "fulfilling": N_("The shop is preparing the goods"),
    "ready_for_pickup": N_("Ready at the pickup point"),
    "arrived": N_("Arrived at the pickup point"),
    "delivering": N_("Out for delivery"),
    "delivery_update": N_("Delivery update"),
    "picked_up": N_("Picked up (code verified)"),
    "confirmed": N_("Receipt confirmed"),
    "delivered": N_("Delivered"),
    "auto_confirmed": N_("Receipt confirmed automatically"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "refund_requested": N_("Refund requested"),
    "refunded": N_("Refunded"),
    "refund_rejected": N_("Refund request rejected"),
    "late_payment_refunded": N_("A late payment was refunded"),
    "grouping": N_("Waiting for the group to form"),
    "group_formed": N_("The group formed; the order goes on"),
    "pickup_code_wrong": N_("A wrong pickup code was entered"),
}
ACTOR_NAMES = {"member": N_("Buyer"), "staff": N_("Shop staff"), "leader": N_("Leader"), "system": N_("System"), "gateway": N_("Payment")}
CASE_NAMES = {"requested": N_("Under review"), "approved": N_("Approved"), "rejected": N_("Rejected"), "refunded": N_("Refunded")}
CANCEL_REASONS = {"buyer_cancelled": N_("cancelled by the buyer"), "payment_timeout": N_("not paid in time"), "refunded": N_("fully refunded"), "team_failed": N_("the team did not fill in time")}
SETTING_NAMES = {
    "unpaid_minutes": N_("Minutes to pay before an order is cancelled"),
    "auto_confirm_days": N_("Days until receipt is confirmed automatically"),
    "after_sales_days": N_("After-sales window (days)"),
    "quick_refund_max": N_("Quick refund (坏果包赔) up to (yuan; 0 turns it off)"),
    "quick_refund_hours": N_("Quick refund within (hours after receipt)"),
    "delivery_radius_m": N_("Delivery radius (metres)"),
    "max_qty_per_line": N_("Most units of one item per order"),
}
WAITING = (Status.paid.value, Status.fulfilling.value, Status.ready_for_pickup.value)
MAX_POLLS = 120  # the order page stops polling for the payment callback after ~2 minutes
NAMES = {"status_names": STATUS_NAMES, "action_names": ACTION_NAMES, "actor_names": ACTOR_NAMES, "case_names": CASE_NAMES, "cancel_reasons": CANCEL_REASONS}


def _int(raw: str, code: str, detail: str) -> int:
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid(code, detail)
    return int(raw)


def _query_int(page: Page, name: str) -> int | None:
    raw = page.request.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _merchant_name(s: Session, merchant_id: int) -> str:
    try:
        return identity.public_merchant(s, merchant_id).name
    except NotFound:
        return ""


# --- what an order page shows ---------------------------------------------------------------------


@dataclass
class LineView:
    line: Any
    left: int  # fen that may still be asked back


def order_view(s: Session, d: OrderDetail) -> dict[str, Any]:
    o = d.order
    lines = [LineView(ln, rules.refundable_left(ln.paid, ln.refunded, ln.refund_reserved)) for ln in d.lines]
    names = {ln.id: f"{ln.product_name} · {ln.sku_name}" for ln in d.lines}
    case_lines = aftersales.case_lines(s, [c.id for c in d.refund_cases])
    cases = [{"case": c, "lines": [(names.get(cl.line_id, ""), cl.amount) for cl in case_lines[c.id]]} for c in d.refund_cases]
    point = community.get_pickup_point(s, o.pickup_point_id) if o.pickup_point_id else None
    return {
        "order": o, "lines": lines, "cases": cases, "timeline": d.timeline, "point": point, "payment_id": d.payment_id,
        "merchant_name": _merchant_name(s, o.merchant_id), "refundable": o.status in rules.REFUNDABLE,
        "show_code": bool(o.open_pickup_code) and o.status in rules.OPEN_FOR_PICKUP,
    }


# --- member H5: checkout --------------------------------------------------------------------------


def _checkout(page: Page, s: Session, who: Principal, sku_id: int, qty: int, *, values: dict | None = None, status: int = 200, error: DomainError | None = None) -> Response:
    v = catalog.sku_views(s, [sku_id]).get(sku_id)
    if v is None or not v.active:
        raise NotFound("product.not_found", "No such product.")
    # A campaign order (a live offer, a team to open or join) shows the campaign price.
    campaign_id = _query_int(page, "campaign") if values is None else _int_or_none(values.get("campaign", ""))
    team_id = _query_int(page, "team") if values is None else _int_or_none(values.get("team", ""))
    unit = campaign_service.quoted_price(s, campaign_id, team_id, who.member_id, sku_id) if (campaign_id or team_id) else None
    merchant = identity.public_merchant(s, v.merchant_id)
    member = identity.get_member(s, who.member_id)
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
            "name": member.nickname, "phone": member.phone, "text": "",
            "lat": f"{near.lat:.6f}" if near else "", "lng": f"{near.lng:.6f}" if near else "",
            "idem": idempotency_key(), "campaign": str(campaign_id or ""), "team": str(team_id or ""),
        }
    return page.render(
        "orders/checkout.html", status=status, error=error, merchant=merchant, sku=v, qty=qty, subtotal=(unit if unit is not None else v.price) * qty,
        home=home, home_points=home_points, others=others, values=values,
    )


def idempotency_key() -> str:
    return uuid.uuid4().hex


@router.get("/m/checkout")
def checkout(page: PageDep, s: DB, who: MemberWho) -> Response:
    sku_id = _query_int(page, "sku")
    if sku_id is None:
        raise NotFound("product.not_found", "No such product.")
    qty = _query_int(page, "qty") or 1
    return _checkout(page, s, who, sku_id, min(max(qty, 1), 9999))


def _address(values: dict[str, str]) -> service.Address:
    try:
        lat, lng = float(values["lat"]), float(values["lng"])
    except ValueError:
        raise Invalid("community.location_invalid", "Latitude must be within ±90 and longitude within ±180.") from None
    return service.Address(values["name"], values["phone"], values["text"], lat, lng)


CHECKOUT_FIELDS = ("sku", "qty", "mode", "pickup_point_id", "name", "phone", "text", "lat", "lng", "idem", "campaign", "team")


def _int_or_none(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


@router.post("/m/checkout")
def place_order(page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """Place the order and open its payment, once per form (the form's idempotency key
    makes a double tap or a resent form land on the same order)."""
    values = {k: text(form, k) for k in CHECKOUT_FIELDS}
    sku_id = _int(values["sku"], "order.sku_unknown", "An item is not sold by this shop.")
    try:
        with attempt(s):
            qty = _int(values["qty"], "order.qty_invalid", "Quantities must be at least 1.")
            claim = idempotency.claim(s, f"member:{who.member_id}", "pages.checkout", values["idem"] or None, values, now)
            if claim.replay is not None:
                target = claim.replay["next"]
            else:
                v = catalog.sku_views(s, [sku_id]).get(sku_id)
                if v is None:
                    raise Invalid("order.sku_unknown", "An item is not sold by this shop.")
                in_campaign = {"campaign_id": _int_or_none(values["campaign"]), "team_id": _int_or_none(values["team"])}
                if values["mode"] == "delivery":
                    req = service.NewOrder(v.merchant_id, [(sku_id, qty)], address=_address(values), **in_campaign)
                else:
                    point = values["pickup_point_id"]
                    req = service.NewOrder(v.merchant_id, [(sku_id, qty)], pickup_point_id=int(point) if point.isascii() and point.isdigit() else None, **in_campaign)
                ticket = ports.queue.try_queue(s, who.member_id, req, values["idem"] or None, now)
                if ticket is not None:  # a flash-sale rush: the order waits its turn (orders/queue_pages.py)
                    target = f"/m/orders/queued/{ticket}"
                else:
                    o = service.create_order(s, who.member_id, req, now)
                    p = service.start_payment(s, who.member_id, o.id, now)
                    target = f"/m/pay/{p.id}" if p is not None else f"/m/orders/{o.id}"
                claim.store(s, {"next": target}, 303)
    except DomainError as exc:
        raw_qty = values["qty"]
        qty = int(raw_qty) if raw_qty.isascii() and raw_qty.isdigit() and 0 < len(raw_qty) <= 4 else 1
        return _checkout(page, s, who, sku_id, max(qty, 1), values=values, status=exc.status, error=exc)
    return page.redirect(target)


# --- member H5: my orders and the order page ---------------------------------------------------------


@router.get("/m/orders")
def my_orders(page: PageDep, s: DB, who: MemberWho) -> Response:
    before = _query_int(page, "before")
    orders = service.member_orders(s, who.member_id, limit=30, before_id=before)
    lines = service.lines_for(s, [o.id for o in orders])
    merchants = {mid: _merchant_name(s, mid) for mid in {o.merchant_id for o in orders}}
    leads = bool(community.communities_led_by(s, who.member_id))
    return page.render("orders/my_orders.html", orders=orders, lines=lines, merchants=merchants, leads=leads, more=len(orders) == 30, **NAMES)


def _order_page(page: Page, s: Session, who: Principal, oid: int, *, state: dict | None = None, status: int = 200, error: DomainError | str | None = None, fragment: bool = False) -> Response:
    d = service.member_order(s, who.member_id, oid)
    polls = _query_int(page, "n") or 0
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


@router.post("/m/orders/{oid}/pay")
def pay(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            p = service.start_payment(s, who.member_id, oid, now)
    except DomainError as exc:
        return _order_page(page, s, who, oid, status=exc.status, error=exc)
    return page.redirect(f"/m/pay/{p.id}" if p is not None else f"/m/orders/{oid}")


@router.post("/m/orders/{oid}/cancel")
def cancel(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            service.cancel_by_member(s, who.member_id, oid, now)
    except DomainError as exc:
        return _order_page(page, s, who, oid, status=exc.status, error=exc)
    return page.redirect(f"/m/orders/{oid}")


@router.post("/m/orders/{oid}/confirm-receipt")
def confirm_receipt(oid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            service.confirm_receipt(s, who.member_id, oid, now)
    except DomainError as exc:
        return _order_page(page, s, who, oid, status=exc.status, error=exc)
    return page.redirect(f"/m/orders/{oid}")


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


# --- member H5: the leader's pickup desk ---------------------------------------------------------------


def _point_cards(s: Session, who: Principal, points: list[tuple[Any, Any]]) -> list[dict]:
    cards = []
    for c, p in points:
        orders = service.point_orders(s, who, p.id, WAITING)
        cards.append({"community": c, "point": p, "orders": orders})
    ids = [o.id for card in cards for o in card["orders"]]
    lines = service.lines_for(s, ids)
    buyers = identity.members_by_ids(s, list({o.member_id for card in cards for o in card["orders"]}))
    for card in cards:
        card["lines"] = lines
        card["buyers"] = buyers
        counts = Counter(o.status for o in card["orders"])
        card["to_arrive"] = counts[Status.paid.value] + counts[Status.fulfilling.value]
        card["ready"] = counts[Status.ready_for_pickup.value]
    return cards


def _led_points(s: Session, who: Principal) -> list[tuple[Any, Any]]:
    return [(c, p) for c in community.communities_led_by(s, who.member_id) for p in community.list_pickup_points(s, c.id)]


def _leader_page(page: Page, s: Session, who: Principal, *, point_id: int | None = None, state: dict | None = None, status: int = 200) -> Response:
    """The leader's page, or with HTMX only the card of ``point_id`` (when it is theirs)."""
    state = state or {}
    led = _led_points(s, who)
    mine = [(c, p) for c, p in led if p.id == point_id]
    if page.is_htmx and mine:
        c = mine[0][0]
        card = _point_cards(s, who, mine)[0]
        return page.render("orders/_point.html", status=status, card=card, state=state, merchant_names={c.merchant_id: _merchant_name(s, c.merchant_id)}, **NAMES)
    cards = _point_cards(s, who, led)
    merchant_names = {mid: _merchant_name(s, mid) for mid in {card["community"].merchant_id for card in cards}}
    return page.render("orders/leader.html", status=status, cards=cards, state=state, merchant_names=merchant_names, **NAMES)


@router.get("/m/leader")
def leader(page: PageDep, s: DB, who: MemberWho) -> Response:
    return _leader_page(page, s, who)


@router.post("/m/leader/points/{pid}/arrived")
def arrived(pid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            moved = service.point_arrived(s, who, pid, now)
    except DomainError as exc:
        return _leader_page(page, s, who, point_id=pid, state={"point": pid, "error": page.error_text(exc)}, status=exc.status)
    if moved:
        notice = page.translations.ngettext("%(n)s order is now ready for pickup.", "%(n)s orders are now ready for pickup.", len(moved)) % {"n": len(moved)}
    else:
        notice = page._(N_("No order was waiting for the goods."))
    return _leader_page(page, s, who, point_id=pid, state={"point": pid, "notice": notice})


@router.post("/m/leader/points/{pid}/verify")
def verify(pid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, ctx: Ctx, now: Now) -> Response:
    """核销: a typed 6-digit code or the scanned QR text, at this pickup point."""
    code = text(form, "code")[:64]
    try:
        with attempt(s):
            o, digits = service.find_by_code(s, who, pid, code, ctx.limiter)
            o = service.verify_pickup(s, who, o.id, digits, now)
    except DomainError as exc:
        return _leader_page(page, s, who, point_id=pid, state={"point": pid, "error": page.error_text(exc), "code": code}, status=exc.status)
    lines = service.lines_for(s, [o.id])[o.id]
    buyer = identity.members_by_ids(s, [o.member_id]).get(o.member_id)
    return _leader_page(page, s, who, point_id=pid, state={"point": pid, "verified": {"order": o, "lines": lines, "buyer": buyer}})


# --- console: the merchant page's orders section ---------------------------------------------------------


def _desk(view: MerchantView, section: str) -> dict:
    return {"view": view, "section": section, **NAMES}


@merchant_section(order=5)  # first: the way into the order desk
def orders_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    recent = service.merchant_orders(s, page.who, view.merchant.id, service.OrderFilter(limit=5))
    waiting = len(service.list_cases(s, page.who, view.merchant.id, "requested")) if view.can(Permission.after_sales) else None
    lines = service.lines_for(s, [o.id for o in recent])
    context = {"page": page, "translations": page.translations, "recent": recent, "lines": lines, "waiting": waiting, **_desk(view, "")}
    return Markup(templating.render("orders/_section.html", context))


# --- console: order list -----------------------------------------------------------------------------------


def _local_day(raw: str, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        d = date.fromisoformat(raw)
    except ValueError:
        raise Invalid("order.filter_date_invalid", f"{field}: use a date like 2026-11-22.") from None
    return datetime.combine(d, time(), SHANGHAI).astimezone(timezone.utc)


def _filters(page: Page) -> tuple[dict[str, str], service.OrderFilter]:
    q = page.request.query_params
    raw = {k: (q.get(k) or "").strip()[:20] for k in ("status", "community_id", "pickup_point_id", "from", "to")}
    if raw["status"] and raw["status"] not in STATUS_NAMES:
        raise Invalid("order.filter_status_invalid", "Unknown status.")
    to = _local_day(raw["to"], "to")
    f = service.OrderFilter(
        status=raw["status"] or None,
        community_id=int(raw["community_id"]) if raw["community_id"].isdigit() else None,
        pickup_point_id=int(raw["pickup_point_id"]) if raw["pickup_point_id"].isdigit() else None,
        created_from=_local_day(raw["from"], "from"),
        created_to=to + timedelta(days=1) if to else None,  # the "to" day is included
        limit=100,
        before_id=_query_int(page, "before"),
    )
    return raw, f


@router.get("/console/merchants/{mid}/orders")
def console_orders(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    view = merchant_view(s, who, mid)
    error = None
    try:
        raw, f = _filters(page)
    except DomainError as exc:
        error, raw, f = exc, {}, service.OrderFilter(limit=100)
    orders = service.merchant_orders(s, who, mid, f)
    communities = community.list_communities(s, who, mid)
    points = community.pickup_points_of(s, [c.id for c in communities])
    point_names = {p.id: p.name for ps in points.values() for p in ps}
    lines = service.lines_for(s, [o.id for o in orders])
    buyers = identity.members_by_ids(s, list({o.member_id for o in orders}))
    more_query = "&".join(f"{k}={v}" for k, v in raw.items() if v)
    return page.render(
        "orders/console_orders.html", status=error.status if error else 200, error=error, orders=orders, lines=lines, buyers=buyers,
        communities=communities, points=points, point_names=point_names, community_names={c.id: c.name for c in communities},
        filters=raw, more=len(orders) == f.limit, more_query=more_query, **_desk(view, "orders"),
    )


# --- console: one order --------------------------------------------------------------------------------------


def _staff_actions(o: Order) -> list[str]:
    st = o.status
    pickup = o.pickup_point_id is not None
    actions = []
    if st == Status.paid.value:
        actions.append("fulfil")
    if pickup and st in (Status.paid.value, Status.fulfilling.value):
        actions.append("ready")
    if not pickup and st in (Status.paid.value, Status.fulfilling.value):
        actions.append("dispatched")
    if not pickup and st == Status.delivering.value:
        actions += ["update", "delivered"]
    return actions


def _console_order(page: Page, s: Session, who: Principal, mid: int, oid: int, *, status: int = 200, error: DomainError | str | None = None, state: dict | None = None) -> Response:
    view = merchant_view(s, who, mid)
    d = service.merchant_order(s, who, mid, oid)
    context = order_view(s, d)
    actors = identity.members_by_ids(s, list({a.actor_member_id for a in d.timeline if a.actor_member_id} | {d.order.member_id}))
    community_name = community.public_community(s, d.order.community_id).name if d.order.community_id else ""
    return page.render(
        "orders/console_order.html", status=status, error=error, state=state or {}, buyer=actors.get(d.order.member_id), actors=actors,
        community_name=community_name, actions=_staff_actions(d.order) if view.can(Permission.after_sales) else [], **context, **_desk(view, "orders"),
        panels=order_panels(page, s, view, d.order.id),
    )


@router.get("/console/merchants/{mid}/orders/{oid}")
def console_order(mid: Id, oid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _console_order(page, s, who, mid, oid)


def _staff_step(page: Page, s: Session, who: Principal, mid: int, oid: int, form: FormData, step: Callable[[], Any]) -> Response:
    try:
        with attempt(s):
            step()
    except DomainError as exc:
        return _console_order(page, s, who, mid, oid, status=exc.status, error=exc, state={"note": text(form, "note")})
    return page.redirect(f"/console/merchants/{mid}/orders/{oid}")


@router.post("/console/merchants/{mid}/orders/{oid}/fulfil")
def start_fulfilment(mid: Id, oid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _staff_step(page, s, who, mid, oid, form, lambda: service.start_fulfilment(s, who, mid, oid, now))


@router.post("/console/merchants/{mid}/orders/{oid}/ready")
def mark_ready(mid: Id, oid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _staff_step(page, s, who, mid, oid, form, lambda: service.mark_ready(s, who, mid, oid, now))


@router.post("/console/merchants/{mid}/orders/{oid}/delivery")
def delivery(mid: Id, oid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """A delivery step: dispatched, update (with a note) or delivered."""
    return _staff_step(page, s, who, mid, oid, form, lambda: service.delivery_update(s, who, mid, oid, text(form, "action"), text(form, "note"), now))


# --- console: refund review -----------------------------------------------------------------------------------


def _refunds(page: Page, s: Session, who: Principal, mid: int, status_filter: str | None, *, state: dict | None = None, status: int = 200, error: DomainError | str | None = None) -> Response:
    view = merchant_view(s, who, mid)
    cases = service.list_cases(s, who, mid, status_filter)
    case_lines = aftersales.case_lines(s, [c.id for c in cases])
    lines = service.lines_for(s, list({c.order_id for c in cases}))
    names = {ln.id: f"{ln.product_name} · {ln.sku_name}" for ls in lines.values() for ln in ls}
    buyers = identity.members_by_ids(s, list({c.member_id for c in cases}))
    items = [{"case": c, "lines": [(names.get(cl.line_id, ""), cl.amount) for cl in case_lines[c.id]], "buyer": buyers.get(c.member_id)} for c in cases]
    return page.render("orders/console_refunds.html", status=status, error=error, items=items, filter=status_filter or "", state=state or {}, **_desk(view, "refunds"))


@router.get("/console/merchants/{mid}/refunds")
def console_refunds(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    q = page.request.query_params.get("status", "requested")
    return _refunds(page, s, who, mid, q if q in CASE_NAMES else None)


def _decide(page: Page, s: Session, who: Principal, mid: int, rid: int, form: FormData, decision: Callable[[], Any]) -> Response:
    try:
        with attempt(s):
            decision()
    except DomainError as exc:
        # Shown in the list of all requests, where this one is whatever its status now.
        state = {"case": rid, "case_error": page.error_text(exc), "reason": text(form, "reason")}
        return _refunds(page, s, who, mid, None, state=state, status=exc.status)
    return page.redirect(safe_next(text(form, "next"), f"/console/merchants/{mid}/refunds"))


@router.post("/console/merchants/{mid}/refunds/{rid}/approve")
def approve_refund(mid: Id, rid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _decide(page, s, who, mid, rid, form, lambda: service.approve(s, who, mid, rid, now, text(form, "note") or None))


@router.post("/console/merchants/{mid}/refunds/{rid}/reject")
def reject_refund(mid: Id, rid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _decide(page, s, who, mid, rid, form, lambda: service.reject(s, who, mid, rid, text(form, "reason"), now))


# --- console: order settings -------------------------------------------------------------------------------------


def _bounds(name: str) -> tuple[int, int]:
    lo = hi = None
    for m in OrderSettingsIO.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def _settings_values(row) -> dict[str, str]:
    return {f: format_yuan(getattr(row, f)) if f == "quick_refund_max" else str(getattr(row, f)) for f in order_settings.FIELDS}


def _settings_page(page: Page, s: Session, who: Principal, mid: int, *, values: dict | None = None, status: int = 200, error: str | DomainError | None = None, saved: bool = False) -> Response:
    view = merchant_view(s, who, mid)
    row = order_settings.get(s, who, mid)
    fields = [(f, SETTING_NAMES[f], _bounds(f)) for f in order_settings.FIELDS]
    return page.render(
        "orders/console_settings.html", status=status, error=error, values=values or _settings_values(row), fields=fields,
        can_edit=view.can(Permission.manage_rules), saved=saved, **_desk(view, "settings"),
    )


@router.get("/console/merchants/{mid}/order-settings")
def console_settings(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _settings_page(page, s, who, mid, saved=page.request.query_params.get("saved") == "1")


@router.post("/console/merchants/{mid}/order-settings")
def save_settings(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho) -> Response:
    values = {f: text(form, f) for f in order_settings.FIELDS}
    parsed: dict[str, int] = {}
    for f in order_settings.FIELDS:
        lo, hi = _bounds(f)
        raw = values[f]
        if f == "quick_refund_max":
            try:
                n = yuan_field(raw, "order.settings_invalid")
            except DomainError:
                n = None
            lo_text, hi_text, n_ok = format_yuan(lo), format_yuan(hi), n is not None
        else:
            n = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
            lo_text, hi_text, n_ok = str(lo), str(hi), n is not None
        if not n_ok or not lo <= n <= hi:
            message = page._(N_("%(field)s: enter a number from %(min)s to %(max)s.")) % {"field": page._(SETTING_NAMES[f]), "min": lo_text, "max": hi_text}
            return _settings_page(page, s, who, mid, values=values, status=422, error=message)
        parsed[f] = n
    try:
        with attempt(s):
            order_settings.put(s, who, mid, parsed)
    except DomainError as exc:
        return _settings_page(page, s, who, mid, values=values, status=exc.status, error=exc)
    return page.redirect(f"/console/merchants/{mid}/order-settings?saved=1")
