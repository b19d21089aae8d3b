"""Console: referral programmes ``/console/merchants/{mid}/referral-programmes`` — the list
with each programme's referrals (pending, granted, void) and cost, ending one, and the
editor for a new one (who gets what, the minimum first order, the window after binding,
the monthly cap, up to three milestones) — plus a merchant-page section, and the referral
desk ``…/referral-programmes/{pid}/referrals``: one programme's referrals one by one with
the rewards given for each.

The form is one use case in a savepoint: what cannot be read is an error on its field and
the page comes back with what was typed (4xx); the service checks everything again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.catalog import service as catalog
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.incentives import desk, programmes, rules
from linli.incentives.pages import FAILURES, STATUS, VOID_REASONS, reward_text
from linli.money import parse_yuan
from linli.rewards import coupons
from linli.schema import Id
from linli.timeutil import SHANGHAI, local_time
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "programme.number_format": N_("Enter a whole number."),
        "programme.amount_format": N_("Enter an amount in yuan with at most 2 decimals, e.g. 3 or 9.90."),
        "programme.date_format": N_("Enter a date like 2026-12-31."),
    }
)

KIND_NAMES = {"points": N_("Points"), "coupon": N_("A coupon"), "stored_value_bonus": N_("Stored-value bonus"), "gift": N_("A gift product")}
PROGRAMME_STATUS = {"scheduled": N_("Not started"), "active": N_("Running"), "ended": N_("Ended")}
SIDES = ("inviter", "invitee")
SIDE_NAMES = {"inviter": N_("Inviter"), "invitee": N_("Friend")}
MILESTONE_ROWS = 3


def _url(mid: int) -> str:
    return f"/console/merchants/{mid}/referral-programmes"


@merchant_section(order=37)
def programmes_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    stats = programmes.stats(s, page.who, view.merchant.id)
    now = page.ctx.now()
    running = [st for st in stats if programmes.status(st.programme, now) == "active"]
    return Markup(templating.render("incentives/_section.html", {"page": page, "translations": page.translations, "view": view, "running": len(running),
                                                                 "granted": sum(st.granted for st in stats), "cost": sum(st.cost for st in stats)}))


# --- reading the form ------------------------------------------------------------------------------


def _whole(raw: str, field: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid("programme.number_format", "Enter a whole number.", field=field)
    return int(raw)


def _yuan(raw: str, field: str) -> int:
    try:
        return parse_yuan(raw)
    except ValueError:
        raise Invalid("programme.amount_format", "Enter an amount in yuan with at most 2 decimals.", field=field) from None


def _day(raw: str, field: str, *, last: bool = False) -> datetime:
    """A Shanghai day's start; ``last``: the end of that day (the next day's start)."""
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    except ValueError:
        raise Invalid("programme.date_format", "Enter a date like 2026-12-31.", field=field) from None
    try:
        return day + timedelta(days=1) if last else day
    except OverflowError:  # 9999-12-31 has no next day
        raise Invalid("programme.dates_out_of_range", "Dates fall in the years 2000 to 2100.", field=field) from None


def _reward(form: FormData, prefix: str) -> rules.Reward | None:
    kind = text(form, f"{prefix}_kind")
    if not kind:
        return None
    if kind not in rules.Kind.__members__:
        raise Invalid("programme.reward_required", "Choose what is given.", field=f"{prefix}_kind")
    k = rules.Kind(kind)
    if k == rules.Kind.points:
        return rules.Reward(k, _whole(text(form, f"{prefix}_amount"), f"{prefix}_amount"))
    if k == rules.Kind.stored_value_bonus:
        return rules.Reward(k, _yuan(text(form, f"{prefix}_amount"), f"{prefix}_amount"))
    if k == rules.Kind.coupon:
        raw = text(form, f"{prefix}_template")
        return rules.Reward(k, 0, _whole(raw, f"{prefix}_template") if raw else None)
    raw = text(form, f"{prefix}_sku")
    return rules.Reward(k, 0, None, _whole(raw, f"{prefix}_sku") if raw else None)


def terms_from(form: FormData) -> rules.Terms:
    """The editor's form → the programme's terms; dates are whole Shanghai days (the end
    date included)."""
    milestones = []
    for i in range(MILESTONE_ROWS):
        raw = text(form, f"ms{i}_count")
        if raw:
            milestones.append(rules.Milestone(_whole(raw, f"ms{i}_count"), _reward(form, f"ms{i}_inviter") or rules.Reward(rules.Kind.points, 0), _reward(form, f"ms{i}_invitee")))
    return rules.Terms(
        name=text(form, "name"), trigger=text(form, "trigger") or rules.TRIGGER, starts_at=_day(text(form, "starts_at"), "starts_at"),
        ends_at=_day(text(form, "ends_at"), "ends_at", last=True), min_paid=_yuan(text(form, "min_paid"), "min_paid"),
        window_days=_whole(text(form, "window_days"), "window_days"), monthly_cap=_whole(text(form, "monthly_cap"), "monthly_cap"),
        inviter_reward=_reward(form, "inviter"), invitee_reward=_reward(form, "invitee"), milestones=tuple(milestones),
    )


# --- the page ---------------------------------------------------------------------------------------


def _defaults(now: datetime) -> dict[str, str]:
    today = now.astimezone(SHANGHAI).date()
    return {"starts_at": today.isoformat(), "ends_at": (today + timedelta(days=30)).isoformat(), "min_paid": "29.90",
            "window_days": str(rules.SETTINGS.default("window_days")), "monthly_cap": str(rules.SETTINGS.default("monthly_cap"))}


def _page(page: Page, s: Session, who: Principal, mid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    state = state or {}
    rows = []
    for st in programmes.stats(s, who, mid):
        p = st.programme
        rows.append({"st": st, "p": p, "status": programmes.status(p, now), "last_day": local_time(p.ends_at - timedelta(seconds=1), "%Y-%m-%d"), "inviter": reward_text(page, s, programmes.reward_of(p.inviter_reward)),
                     "invitee": reward_text(page, s, programmes.reward_of(p.invitee_reward)),
                     "milestones": [(m.count, reward_text(page, s, m.inviter_reward)) for m in programmes.milestones_of(p)]})
    templates = [st.template for st in coupons.template_stats(s, who, mid, now) if st.template.active]
    products = catalog.list_products(s, who, mid, include_archived=False)
    skus = catalog.skus_of(s, [p.id for p in products])
    return page.render(
        "incentives/console_programmes.html", status=status, view=view, rows=rows, state=state, f=state.get("values") or _defaults(now), can_manage=view.can(Permission.manage_campaigns),
        kinds=KIND_NAMES, statuses=STATUS, programme_status=PROGRAMME_STATUS, templates=templates, products=products, skus=skus, sides=SIDES, milestone_rows=range(MILESTONE_ROWS),
    )


@router.get("/console/merchants/{mid}/referral-programmes")
def console_programmes(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _page(page, s, who, mid, now)


@router.post("/console/merchants/{mid}/referral-programmes")
def create(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            p = programmes.create(s, who, mid, terms_from(form), now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        values: dict[str, Any] = {k: text(form, k)[:80] for k in form.keys() if k != "csrf_token"}
        return _page(page, s, who, mid, now, state={"values": values, "error": page.error_text(exc), "field": exc.extra.get("field")}, status=exc.status)
    return page.redirect(f"{_url(mid)}#programme-{p.id}")


@router.post("/console/merchants/{mid}/referral-programmes/{pid}")
def edit(mid: Id, pid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """Rename it, move its last day, change its monthly cap (its rewards stay as promised)."""
    values = {k: text(form, k)[:40] for k in ("name", "ends_at", "monthly_cap")}
    try:
        with attempt(s):
            ends = _day(values["ends_at"], "ends_at", last=True) if values["ends_at"] else None
            cap = _whole(values["monthly_cap"], "monthly_cap") if values["monthly_cap"] else None
            programmes.update(s, who, mid, pid, now, name=values["name"] or None, ends_at=ends, monthly_cap=cap)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return _page(page, s, who, mid, now, state={"row": pid, "row_error": page.error_text(exc), "edit": values}, status=exc.status)
    return page.redirect(f"{_url(mid)}#programme-{pid}")


@router.post("/console/merchants/{mid}/referral-programmes/{pid}/end")
def end(mid: Id, pid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            programmes.end(s, who, mid, pid, now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return _page(page, s, who, mid, now, state={"row": pid, "row_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"{_url(mid)}#programme-{pid}")


@router.get("/console/merchants/{mid}/referral-programmes/{pid}/referrals")
def referral_desk(mid: Id, pid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    """The referral desk (filter by status, 50 a page, newest first)."""
    view = merchant_view(s, who, mid)
    q = page.request.query_params
    status = (q.get("status") or "")[:10] or None
    raw_before = q.get("before", "")
    before = int(raw_before) if raw_before.isascii() and raw_before.isdigit() and len(raw_before) <= 12 else None
    error = None
    try:
        d = desk.desk(s, who, mid, pid, status=status, before=before)
    except Invalid as exc:  # an unknown status: the whole desk, with the error
        error, status = exc, None
        d = desk.desk(s, who, mid, pid)
    return page.render("incentives/console_referrals.html", status=error.status if error else 200, error=error, view=view, d=d, filter=status or "",
                       statuses=STATUS, void_reasons=VOID_REASONS, failures=FAILURES, kinds=KIND_NAMES, sides=SIDE_NAMES)
