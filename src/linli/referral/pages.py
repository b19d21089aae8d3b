"""Referral pages.

Member H5: the invite landing ``/i/{code}`` (who invites you to which shop; remembers the
code in a cookie that the member login passes on, or binds a logged-in visitor at once)
and the sharer centre ``/m/share/{mid}`` (my invite code and link, the share poster, my
sharer status, earnings, withdrawals and team).

Console: the sharer desk (applications, suspend / reinstate, appoint by phone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli import idempotency
from linli.catalog import service as catalog
from linli.community import service as community
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import format_yuan, parse_yuan
from linli.orders import service as orders
from linli.referral import service
from linli.referral.ports import sharer_money
from linli.schema import Id
from linli.web.console import merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.labels import NAMES
from linli.web.member import invite_blocks, share_blocks
from linli.web.pages import (
    INVITE_COOKIE,
    ConsoleWho,
    Form,
    MemberWho,
    Page,
    PageDep,
    attempt,
    error_messages,
    text,
)

router = deps_router(include_in_schema=False)

INVITE_TTL = 7 * 24 * 3600  # the invite cookie lives a week
TEAM_SHOWN = 100  # members shown per team level




error_messages(
    {
        "invite.code_unknown": N_("This invite link is not valid (any more). Ask your friend for a new one."),
        "invite.code_exhausted": N_("Could not create your invite code; please try again."),
        "invite.leaders_only": N_("Campaign codes are for the shop's community leaders."),
        "binding.self": N_("This is your own invitation: share it with your neighbours."),
        "binding.cycle": N_("This invitation cannot be accepted: the inviter is already in your own team."),
        "binding.exists": N_("You already joined this shop through another neighbour's invitation."),
        "binding.not_new": N_("At this shop an invitation only links new members."),
        "binding.changed": N_("Your invitation changed meanwhile; reload the page."),
        "sharer.not_eligible": N_("You cannot become a sharer yet: see the condition below."),
        "sharer.suspended": N_("Your sharer account at this shop is suspended; please contact the shop."),
        "sharer.invite_only": N_("This shop appoints its sharers itself; ask the shop to invite you."),
        "sharer.bad_state": N_("This sharer's status does not allow that now; reload the page."),
        "sharer.action_invalid": N_("Choose a valid action."),
    }
)

SHARER_MODES = {
    "everyone": N_("Every member can become a sharer at once."),
    "everyone_after_purchase": N_("Become a sharer once your first order from this shop is received."),
    "spend_threshold": N_("Become a sharer once your received orders at this shop add up to ¥%(amount)s."),
    "approval": N_("Apply, and the shop reviews your application."),
    "invited": N_("The shop appoints its sharers; ask the shop to invite you."),
}
DESK_STATUS = {"applied": N_("Applied"), "active": N_("Active"), "suspended": N_("Suspended"), "rejected": N_("Rejected")}
DESK_NOTES = {"appointed": N_("Appointed by the shop")}


def _query_int(page: Page, name: str) -> int | None:
    raw = page.request.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def invite_link(page: Page, code: str) -> str:
    return str(page.request.base_url).rstrip("/") + f"/i/{code}"


def mode_text(page: Page, s: Session, merchant_id: int) -> str:
    """How a member becomes a sharer at this shop, in the page's language."""
    cfg = service.settings_for(s, merchant_id)
    message = page._(SHARER_MODES.get(cfg.sharer_mode, SHARER_MODES["approval"]))
    return message % {"amount": format_yuan(cfg.spend_threshold)} if cfg.sharer_mode == "spend_threshold" else message


# --- member H5: the invite landing ------------------------------------------------------------


def _invited_product(s: Session, merchant_id: int, raw: str | None):
    """The product a poster's link points at (``?p=``), if it is on sale at that shop."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    try:
        p = catalog.public_product(s, int(raw))
    except DomainError:
        return None
    return p if p.merchant_id == merchant_id else None


@router.get("/i/{code}")
def invite(code: str, page: PageDep, s: DB, now: Now) -> Response:
    """Who invites you to which shop. A visitor's code waits in a cookie until they log
    in (the member login passes it on); a logged-in member is bound right away."""
    try:
        c = service.resolve_code(s, code[:16])
        merchant = identity.public_merchant(s, c.merchant_id)
    except DomainError as exc:
        return page.render("referral/invite.html", status=404, invalid=page.error_text(exc))
    inviter = identity.get_member(s, c.member_id)
    product = _invited_product(s, c.merchant_id, page.request.query_params.get("p"))
    price = None
    if product is not None:
        skus = catalog.skus_of(s, [product.id])[product.id]
        price = min((k.price for k in skus), default=None)
    target = f"/m/products/{product.id}" if product else f"/m/shop/{merchant.id}"
    service.code_visited(s, c, page.who.member_id if page.who else None, now)
    notice = refusal = None
    if page.who is not None:
        if page.who.member_id == c.member_id:
            notice = page._(N_("This is your own invitation: share this link with your neighbours."))
        else:
            try:
                with attempt(s):
                    bound = service.bind(s, page.who.member_id, c.code, now, merchant_id=c.merchant_id)
            except DomainError as exc:  # a refusal is an answer, shown gently, not an error page
                refusal = page.error_text(exc)
            else:
                notice = (page._(N_("You joined %(shop)s through %(name)s's invitation.")) if bound else page._(N_("You already joined %(shop)s through %(name)s's invitation."))) % {
                    "shop": merchant.name, "name": inviter.nickname,
                }
    response = page.render("referral/invite.html", merchant=merchant, inviter=inviter, product=product, price=price, target=target, notice=notice, refusal=refusal,
                           blocks=invite_blocks(page, s, merchant.id))
    if page.who is None:
        response.set_cookie(INVITE_COOKIE, c.code, max_age=INVITE_TTL, httponly=True, samesite="lax", secure=page.ctx.settings.is_production, path="/")
    return response


# --- member H5: the sharer centre ------------------------------------------------------------------


@dataclass
class TeamRow:
    member_id: int
    nickname: str
    status: str
    orders: int


def team_rows(s: Session, who: Principal, merchant_id: int, levels: int) -> list[tuple[int, int, list[TeamRow]]]:
    """(level, size, first members) of the caller's downline. Activity is the number of
    received orders each member has at this shop."""
    layers = service.team(s, who, merchant_id, levels)
    shown = [layer[:TEAM_SHOWN] for layer in layers]
    ids = [m for layer in shown for m in layer]
    members = identity.members_by_ids(s, ids)
    active = service.active_sharers(s, merchant_id, ids)
    out = []
    for level, (layer, first) in enumerate(zip(layers, shown, strict=True), start=1):
        rows = [
            TeamRow(m, members[m].nickname, "active" if m in active else service.sharer_status(s, merchant_id, m), orders.received_spend(s, m, merchant_id)[0])
            for m in first
        ]
        out.append((level, len(layer), rows))
    return out


def render_centre(page: Page, s: Session, who: Principal, mid: int, now: datetime, *, state: dict[str, Any] | None = None, status: int = 200) -> Response:
    """The sharer centre: only ever the caller's own code, money and team."""
    merchant = identity.public_merchant(s, mid)
    code = service.my_code(s, who.member_id, mid, now)
    products = catalog.public_products(s, mid, limit=30)
    chosen = next((p for p in products if p.id == _query_int(page, "product")), None)
    poster = f"/api/v1/me/poster?merchant_id={mid}" + (f"&product_id={chosen.id}" if chosen else "")  # saving it (the button) is a share; the picture shown is a preview
    money_port = sharer_money.get()
    rules = money_port.rule_set(s, mid)
    money = money_port.earnings(s, who.member_id, mid, limit=100)
    q = page.request.query_params
    notices = {"applied": N_("Application sent."), "withdrawn": N_("Withdrawal requested."), "destination": N_("Saved: withdrawals go there from now on.")}
    notice = notices.get(next((k for k in notices if q.get(k) == "1"), ""), None)
    return page.render(
        "referral/centre.html", status=status, merchant=merchant, code=code.code, link=invite_link(page, code.code), products=products, chosen=chosen,
        poster=poster, my_status=service.sharer_status(s, mid, who.member_id), mode=mode_text(page, s, mid), rules=rules, money=money,
        withdrawals=money_port.withdrawals(s, who.member_id, mid, limit=20), destination=money_port.destination(s, who.member_id), team=team_rows(s, who, mid, rules.levels), state=state or {},
        notice=page._(notice) if notice else None, idem=uuid.uuid4().hex, blocks=share_blocks(page, s, mid, who.member_id), **NAMES,
    )


@router.get("/m/share")
def my_share(page: PageDep, s: DB, who: MemberWho) -> Response:
    """The sharer centre of the member's own shop (by home community), else the shops."""
    home = community.home_community(s, who.member_id)
    return page.redirect(f"/m/share/{home.merchant_id}" if home else "/m/shop")


@router.get("/m/share/{mid}")
def centre(mid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    return render_centre(page, s, who, mid, now)


def _apply_message(page: Page, exc: DomainError) -> str:
    if exc.code == "sharer.not_eligible" and "threshold" in exc.extra:
        return page._(N_("Your received orders at this shop do not reach ¥%(amount)s yet.")) % {"amount": format_yuan(exc.extra["threshold"])}
    if exc.code == "sharer.not_eligible":
        return page._(N_("You can become a sharer once your first order from this shop is received."))
    return page.error_text(exc)


@router.post("/m/share/{mid}/apply")
def apply(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            service.apply(s, who.member_id, mid, now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return render_centre(page, s, who, mid, now, state={"apply_error": _apply_message(page, exc)}, status=exc.status)
    return page.redirect(f"/m/share/{mid}?applied=1#status")


def _withdraw_message(page: Page, exc: DomainError) -> str:
    if exc.code == "withdrawal.below_minimum" and "minimum" in exc.extra:
        return page._(N_("The minimum withdrawal is ¥%(amount)s.")) % {"amount": format_yuan(exc.extra["minimum"])}
    if exc.code == "withdrawal.insufficient" and "available" in exc.extra:
        return page._(N_("You can withdraw at most ¥%(amount)s now.")) % {"amount": format_yuan(max(exc.extra["available"], 0))}
    return page.error_text(exc)


@router.post("/m/share/{mid}/withdrawals")
def withdraw(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """A withdrawal of an amount typed in 元 (converted to fen exactly). The form's key
    makes a double tap one withdrawal."""
    values = {"amount": text(form, "amount")[:20], "idem": text(form, "idem")[:64]}
    try:
        with attempt(s):
            try:
                amount = parse_yuan(values["amount"])
            except ValueError:
                raise Invalid("withdrawal.amount_format", "Enter the amount in yuan with at most 2 decimals.") from None
            claim = idempotency.claim(s, f"member:{who.member_id}", "pages.withdraw", values["idem"] or None, {"merchant_id": mid, "amount": amount}, now)
            if claim.replay is None:
                w = sharer_money.get().withdraw(s, who.member_id, mid, amount, now)
                claim.store(s, {"id": w.id}, 201)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return render_centre(page, s, who, mid, now, state={"withdraw_error": _withdraw_message(page, exc), "amount": values["amount"]}, status=exc.status)
    return page.redirect(f"/m/share/{mid}?withdrawn=1#withdraw")


@router.post("/m/share/{mid}/payout-destination")
def set_destination(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """Where withdrawals go: WeChat (the shop's app) or Alipay (account and real name, kept
    encrypted and shown masked)."""
    values = {k: text(form, k)[:200] for k in ("prefer", "alipay_account", "alipay_name")}
    try:
        with attempt(s):
            identity.public_merchant(s, mid)
            sharer_money.get().set_destination(s, who.member_id, values["prefer"], values["alipay_account"], values["alipay_name"][:60], now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        state = {"destination_error": page.error_text(exc), "prefer": values["prefer"], "alipay_name": values["alipay_name"]}
        return render_centre(page, s, who, mid, now, state=state, status=exc.status)
    return page.redirect(f"/m/share/{mid}?destination=1#withdraw")


# --- console: the sharer desk -----------------------------------------------------------------------


def _sharers(page: Page, s: Session, who: Principal, mid: int, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    rows = service.list_sharers(s, who, mid)
    people = identity.members_by_ids(s, [r.member_id for r in rows])
    applied = [r for r in rows if r.status == "applied"]
    others = [r for r in rows if r.status != "applied"]
    return page.render(
        "referral/console_sharers.html", status=status, view=view, applied=applied, others=others, people=people, state=state or {},
        can_manage=view.can(Permission.manage_rules), mode=mode_text(page, s, mid), section="sharers", desk_status=DESK_STATUS, desk_notes=DESK_NOTES, **NAMES,
    )


@router.get("/console/merchants/{mid}/sharers")
def console_sharers(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _sharers(page, s, who, mid)


@router.post("/console/merchants/{mid}/sharers")
def appoint(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    phone = text(form, "phone")[:20]
    try:
        with attempt(s):
            row = service.appoint(s, who, mid, phone, now)
    except DomainError as exc:
        return _sharers(page, s, who, mid, state={"appoint_error": page.error_text(exc), "phone": phone}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/sharers#sharer-{row.member_id}")


@router.post("/console/merchants/{mid}/sharers/{member_id}/{action}")
def decide(mid: Id, member_id: Id, action: str, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """approve / reject an application, suspend / reinstate a sharer."""
    note = text(form, "note")[:200] or None
    try:
        with attempt(s):
            service.decide(s, who, mid, member_id, action[:20], now, note)
    except DomainError as exc:
        return _sharers(page, s, who, mid, state={"row": member_id, "row_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/sharers#sharer-{member_id}")
