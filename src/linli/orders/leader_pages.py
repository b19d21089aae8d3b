"""The leader's pickup desk (member H5, ``/m/leader``): the orders waiting at each pickup
point they lead, 到货 (the goods arrived) and 核销 (a buyer's pickup code verified)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.community import service as community
from linli.errors import DomainError
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service
from linli.orders.rules import Status
from linli.orders.views import NAMES, merchant_name
from linli.schema import Id
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.member import leader_blocks
from linli.web.pages import Form, MemberWho, Page, PageDep, attempt, text

router = deps_router(include_in_schema=False)

WAITING = (Status.paid.value, Status.fulfilling.value, Status.ready_for_pickup.value)


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
        return page.render("orders/_point.html", status=status, card=card, state=state, merchant_names={c.merchant_id: merchant_name(s, c.merchant_id)}, **NAMES)
    cards = _point_cards(s, who, led)
    merchant_names = {mid: merchant_name(s, mid) for mid in {card["community"].merchant_id for card in cards}}
    return page.render("orders/leader.html", status=status, cards=cards, state=state, merchant_names=merchant_names, blocks=leader_blocks(page, s, who.member_id), **NAMES)


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
