"""Console: the shop's member rewards rules on one page ``/console/merchants/{mid}/rewards``
— the points rules (earn rate, expiry; bounds from ``rules.SETTINGS``), the top-up plans
(充X送Y), the member levels with their privileges, and the new-member and birthday coupons
— plus a merchant-page section next to the coupons one.

Each form posts on its own and is one use case: what cannot be read is an error on its
field (the page comes back with what was typed, 4xx), and the service checks everything
again in a savepoint, so a refusal writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import format_yuan, parse_yuan
from linli.rewards import coupons, grants, levels, stored_value
from linli.rewards import settings as reward_settings
from linli.rewards.rules import SETTINGS
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "rewards.settings_invalid": N_("That value is outside what is allowed."),
        "rewards.number_format": N_("Enter a whole number."),
        "rewards.amount_format": N_("Enter an amount in yuan with at most 2 decimals, e.g. 100 or 9.90."),
        "rewards.percent_format": N_("Enter a percentage with at most 2 decimals, e.g. 5 or 2.5."),
        "topup.plan_duplicate": N_("Two plans have the same amount."),
        "topup.plan_invalid": N_("A plan pays 0.01 to 5,000 yuan and gives a bonus of at most what it pays."),
        "topup.plans_too_many": N_("At most 20 top-up plans."),
        "levels.too_many": N_("At most 10 levels."),
        "levels.name_invalid": N_("A level has a name of 1 to 20 characters."),
        "levels.discount_invalid": N_("A level's discount is between 0 and 99.99%."),
        "levels.thresholds_not_increasing": N_("Each level needs more growth than the one before it."),
        "levels.template_unknown": N_("Choose one of this shop's coupons."),
        "coupon.template_unknown": N_("Choose one of this shop's coupons."),
        "payout.note_required": N_("Say how it was paid (1 to 200 characters)."),
        "payout.already_paid": N_("This refund is already paid."),
    }
)

SETTING_NAMES = {"points_per_yuan": N_("Points earned per yuan paid (0 turns earning off)"), "points_expiry_years": N_("Points expire at the end of the year, this many years on (0: never)")}
BLANK_ROWS = 2  # empty rows under the saved ones, to add a plan or a level
MAX_ROWS = 40  # rows read from a posted form (more than any list allows)


def _render(page: Page, name: str, **context: Any) -> Markup:
    return Markup(templating.render(name, {"page": page, "translations": page.translations, **context}))


def _url(mid: int) -> str:
    return f"/console/merchants/{mid}/rewards"


@merchant_section(order=36)
def rewards_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    mid = view.merchant.id
    row = reward_settings.get(s, page.who, mid)
    plan_count = len(stored_value.plans(s, mid))
    level_names = [d.name for d in levels.level_defs(s, mid)]
    return _render(page, "rewards/_rules_section.html", view=view, cfg=row, plans=plan_count, levels=level_names)


# --- reading the forms ------------------------------------------------------------------------


def _whole(raw: str, field: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid("rewards.number_format", "Enter a whole number.", field=field)
    return int(raw)


def _yuan(raw: str, field: str) -> int:
    try:
        return parse_yuan(raw)
    except ValueError:
        raise Invalid("rewards.amount_format", "Enter an amount in yuan with at most 2 decimals.", field=field) from None


def _percent_bp(raw: str, field: str) -> int:
    """"5" → 500 bp, "2.5" → 250 (the same two decimals as yuan)."""
    if not raw:
        return 0
    try:
        return parse_yuan(raw)
    except ValueError:
        raise Invalid("rewards.percent_format", "Enter a percentage with at most 2 decimals.", field=field) from None


def _template_id(raw: str, field: str) -> int | None:
    if not raw:
        return None
    return _whole(raw, field)


def _row_count(form: FormData) -> int:
    raw = text(form, "rows")
    return min(int(raw), MAX_ROWS) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0


def _rows(form: FormData, names: tuple[str, ...]) -> list[dict[str, str]]:
    """The posted rows as typed (``<name>_<i>``), the removed ones marked."""
    out = []
    for i in range(_row_count(form)):
        r = {n: text(form, f"{n}_{i}")[:40] for n in names}
        r["drop"] = "1" if text(form, f"drop_{i}") == "1" else ""
        out.append(r)
    return out


def _kept(rows: list[dict[str, str]], key_fields: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(index, row) of the rows to save: those not left empty."""
    return [(i, r) for i, r in enumerate(rows) if any(r[f] for f in key_fields)]


# --- the page ---------------------------------------------------------------------------------


def _plan_rows(s: Session, mid: int) -> list[dict[str, str]]:
    return [{"pay": format_yuan(p.pay), "bonus": format_yuan(p.bonus), "drop": ""} for p in stored_value.plans(s, mid)]


def _level_rows(s: Session, mid: int) -> list[dict[str, str]]:
    return [
        {"name": d.name, "growth": format_yuan(d.growth), "discount": format_yuan(d.discount_bp).rstrip("0").rstrip(".") if d.discount_bp else "",
         "free_delivery": "1" if d.free_delivery else "", "birthday": str(d.birthday_coupon_template_id or ""), "drop": ""}
        for d in levels.level_defs(s, mid)
    ]


def _page(page: Page, s: Session, who: Principal, mid: int, now, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    state = state or {}
    form = state.get("form")
    cfg = reward_settings.get(s, who, mid)
    points = state["values"] if form == "points" else {k: str(getattr(cfg, k)) for k in SETTINGS.names}
    plans = state["values"] if form == "plans" else _plan_rows(s, mid)
    lvls = state["values"] if form == "levels" else _level_rows(s, mid)
    new_member, birthday = grants.coupon_settings(s, who, mid)
    chosen = state["values"] if form == "coupons" else {"new_member": str(new_member or ""), "birthday": str(birthday or "")}
    templates = [st.template for st in coupons.template_stats(s, who, mid, now)]
    blank_plan = {"pay": "", "bonus": "", "drop": ""}
    blank_level = {"name": "", "growth": "", "discount": "", "free_delivery": "", "birthday": "", "drop": ""}
    return page.render(
        "rewards/console_rules.html", status=status, view=view, state=state, knobs=[(k, SETTING_NAMES[k.name]) for k in SETTINGS], points=points,
        plans=list(plans) + [dict(blank_plan) for _ in range(BLANK_ROWS)], levels=list(lvls) + [dict(blank_level) for _ in range(BLANK_ROWS)],
        chosen=chosen, templates=templates, can_rules=view.can(Permission.manage_rules), can_campaigns=view.can(Permission.manage_campaigns),
        can_finance=view.can(Permission.finance), payouts=stored_value.payouts(s, who, mid) if view.can(Permission.finance) else [],
        saved=page.request.query_params.get("saved", ""),
    )


@router.get("/console/merchants/{mid}/rewards")
def console_rules(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _page(page, s, who, mid, now)


def _refused(page: Page, s: Session, who: Principal, mid: int, now, form_name: str, values: Any, exc: DomainError, field: str | None) -> Response:
    if exc.code == "merchant.not_found":
        raise exc
    if isinstance(values, list):  # rows: the field is shown if its row is
        inline = field is not None and field.rsplit("_", 1)[-1].isdigit() and int(field.rsplit("_", 1)[-1]) < len(values)
    else:
        inline = field in values
    state = {"form": form_name, "values": values, "error": page.error_text(exc), "field": field, "inline": inline}
    return _page(page, s, who, mid, now, state=state, status=exc.status)


@router.post("/console/merchants/{mid}/rewards/points")
def save_points(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    values = {k: text(form, k)[:12] for k in SETTINGS.names}
    try:
        with attempt(s):
            reward_settings.put(s, who, mid, {k: _whole(v, k) for k, v in values.items()})
    except DomainError as exc:
        return _refused(page, s, who, mid, now, "points", values, exc, exc.extra.get("field"))
    return page.redirect(f"{_url(mid)}?saved=points#points")


@router.post("/console/merchants/{mid}/rewards/plans")
def save_plans(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    rows = [r for r in _rows(form, ("pay", "bonus")) if not r["drop"]]
    kept = _kept(rows, ("pay", "bonus"))
    try:
        with attempt(s):
            items = [(_yuan(r["pay"], f"pay_{i}"), _yuan(r["bonus"] or "0", f"bonus_{i}")) for i, r in kept]
            if len(items) > 20:
                raise Invalid("topup.plans_too_many", "At most 20 plans.")
            stored_value.set_plans(s, who, mid, items)
    except DomainError as exc:
        field = exc.extra.get("field")
        if field is None and "pay" in exc.extra:  # the service names the plan by its amount
            field = next((f"pay_{i}" for i, r in kept if _safe_yuan(r["pay"]) == exc.extra["pay"]), None)
        return _refused(page, s, who, mid, now, "plans", rows, exc, field)
    return page.redirect(f"{_url(mid)}?saved=plans#plans")


def _safe_yuan(raw: str) -> int | None:
    try:
        return parse_yuan(raw)
    except ValueError:
        return None


@router.post("/console/merchants/{mid}/rewards/levels")
def save_levels(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    rows = [r for r in _rows(form, ("name", "growth", "discount", "free_delivery", "birthday")) if not r["drop"]]
    kept = _kept(rows, ("name", "growth", "discount"))
    try:
        with attempt(s):
            items = [
                levels.LevelIn(r["name"], _yuan(r["growth"], f"growth_{i}"), _percent_bp(r["discount"], f"discount_{i}"), r["free_delivery"] == "1",
                               _template_id(r["birthday"], f"birthday_{i}"))
                for i, r in kept
            ]
            levels.set_levels(s, who, mid, items, now)
    except DomainError as exc:
        field = exc.extra.get("field")
        if field is None and "index" in exc.extra and exc.extra["index"] < len(kept):  # the service names the level by its place
            i = kept[exc.extra["index"]][0]
            field = {"levels.name_invalid": "name", "levels.discount_invalid": "discount", "levels.template_unknown": "birthday"}.get(exc.code, "growth") + f"_{i}"
        return _refused(page, s, who, mid, now, "levels", rows, exc, field)
    return page.redirect(f"{_url(mid)}?saved=levels#levels")


@router.post("/console/merchants/{mid}/rewards/coupons")
def save_coupons(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    values = {"new_member": text(form, "new_member")[:18], "birthday": text(form, "birthday")[:18]}
    try:
        with attempt(s):
            grants.set_new_member_coupon(s, who, mid, _template_id(values["new_member"], "new_member"))
            try:
                grants.set_birthday_coupon(s, who, mid, _template_id(values["birthday"], "birthday"))
            except DomainError as exc:
                if exc.extra.get("field") == "template_id":
                    exc.extra["field"] = "birthday"
                raise
    except DomainError as exc:
        field = exc.extra.get("field")
        return _refused(page, s, who, mid, now, "coupons", values, exc, "new_member" if field == "template_id" else field)
    return page.redirect(f"{_url(mid)}?saved=coupons#system-coupons")


@router.post("/console/merchants/{mid}/rewards/payouts/{pid}")
def payout_paid_by_hand(mid: Id, pid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """Finance marks a stored-value payout paid outside the gateway, saying how."""
    values = {"id": pid, "note": text(form, "note")[:200]}
    try:
        with attempt(s):
            stored_value.mark_paid_by_hand(s, who, mid, pid, values["note"], now)
    except DomainError as exc:
        if exc.code == "payout.not_found":
            raise
        return _refused(page, s, who, mid, now, "payouts", values, exc, exc.extra.get("field"))
    return page.redirect(f"{_url(mid)}?saved=payouts#payouts")
