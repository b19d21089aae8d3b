"""Console order pages: the merchant page's orders section, the order list with filters,
the order page with staff actions (and the panels other domains add with ``@order_panel``),
refund review and the order settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.community import service as community
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import format_yuan
from linli.orders import service
from linli.orders.models import Order
from linli.orders.rules import Status
from linli.orders.service import aftersales
from linli.orders.service import settings as order_settings
from linli.orders.views import CASE_NAMES, NAMES, STATUS_NAMES, order_view, query_int
from linli.schema import Id
from linli.timeutil import SHANGHAI
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view, order_panels
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.forms import yuan_field
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, safe_next, text

router = deps_router(include_in_schema=False)

SETTING_NAMES = {
    "unpaid_minutes": N_("Minutes to pay before an order is cancelled"),
    "auto_confirm_days": N_("Days until receipt is confirmed automatically"),
    "after_sales_days": N_("After-sales window (days)"),
    "quick_refund_max": N_("Quick refund (坏果包赔) up to (yuan; 0 turns it off)"),
    "quick_refund_hours": N_("Quick refund within (hours after receipt)"),
    "delivery_radius_m": N_("Delivery radius (metres)"),
    "max_qty_per_line": N_("Most units of one item per order"),
}


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
        before_id=query_int(page, "before"),
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


def _settings_values(row) -> dict[str, str]:
    return {k.name: format_yuan(getattr(row, k.name)) if k.unit == "fen" else str(getattr(row, k.name)) for k in order_settings.SETTINGS}


def _settings_page(page: Page, s: Session, who: Principal, mid: int, *, values: dict | None = None, status: int = 200, error: str | DomainError | None = None, saved: bool = False) -> Response:
    view = merchant_view(s, who, mid)
    row = order_settings.get(s, who, mid)
    fields = [(k, SETTING_NAMES[k.name]) for k in order_settings.SETTINGS]
    return page.render(
        "orders/console_settings.html", status=status, error=error, values=values or _settings_values(row), fields=fields,
        can_edit=view.can(Permission.manage_rules), saved=saved, **_desk(view, "settings"),
    )


@router.get("/console/merchants/{mid}/order-settings")
def console_settings(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _settings_page(page, s, who, mid, saved=page.request.query_params.get("saved") == "1")


@router.post("/console/merchants/{mid}/order-settings")
def save_settings(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho) -> Response:
    """Each field parsed (yuan for money) and held to its bounds from ``orders.rules.SETTINGS``
    (the service refuses them too); the first one wrong is named with what it allows."""
    values = {f: text(form, f) for f in order_settings.SETTINGS.names}
    parsed: dict[str, int] = {}
    for k in order_settings.SETTINGS:
        raw = values[k.name]
        if k.unit == "fen":
            try:
                n = yuan_field(raw, "order.settings_invalid")
            except DomainError:
                n = None
            lo_text, hi_text = format_yuan(k.lo), format_yuan(k.hi)
        else:
            n = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
            lo_text, hi_text = str(k.lo), str(k.hi)
        if n is None or not k.allows(n):
            message = page._(N_("%(field)s: enter a number from %(min)s to %(max)s.")) % {"field": page._(SETTING_NAMES[k.name]), "min": lo_text, "max": hi_text}
            return _settings_page(page, s, who, mid, values=values, status=422, error=message)
        parsed[k.name] = n
    try:
        with attempt(s):
            order_settings.put(s, who, mid, parsed)
    except DomainError as exc:
        return _settings_page(page, s, who, mid, values=values, status=exc.status, error=exc)
    return page.redirect(f"/console/merchants/{mid}/order-settings?saved=1")
