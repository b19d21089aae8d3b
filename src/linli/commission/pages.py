"""Commission pages (console): the merchant page's distribution section, the order page's
rule-version panel, the rule-set editor, the withdrawal desk and settlement with the ledger check.

The member's side (earnings, withdrawing) is the sharer centre in ``referral.pages``; the
texts of the withdrawal errors it shows are registered here with the other commission
codes.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli import ledger
from linli.commission import rules, service, settlement, withdrawals
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.knobs import Knob
from linli.money import format_yuan, parse_yuan
from linli.orders.service import settings as order_settings
from linli.referral import service as referral
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view, order_panel
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.labels import NAMES
from linli.web.pages import (
    ConsoleWho,
    Form,
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
        "commission.levels_over_max": N_("This platform does not allow that many commission levels."),
        "commission.rates_length": N_("Fill in one rate for each commission level."),
        "commission.rate_invalid": N_("Rates are whole basis points from 0 to 10000."),
        "commission.rates_over_cap": N_("The rates that can apply to one line add up to more than the cap."),
        "commission.settlement_invalid": N_("Choose realtime or T+1 settlement."),
        "commission.bonus_invalid": N_("A bonus tier needs a minimum monthly GMV and a bonus of at most 2000 bp."),
        "referral.mode_invalid": N_("Choose a bind mode and a sharer mode from the lists."),
        "referral.threshold_required": N_("Set the spend threshold for this sharer mode."),
        "withdrawal.amount_format": N_("Enter the amount in yuan with at most 2 decimals, e.g. 12.50."),
        "withdrawal.below_minimum": N_("That is below the minimum withdrawal."),
        "withdrawal.daily_limit": N_("You have reached today's number of withdrawals; try again tomorrow."),
        "withdrawal.insufficient": N_("You cannot withdraw more than your available balance."),
        "withdrawal.not_found": N_("No such withdrawal."),
        "withdrawal.already_decided": N_("This withdrawal was already decided."),
    }
)

BIND_MODES = {
    "first_touch": N_("First touch: bound once, for good"),
    "protected": N_("Protected: a later invitation may rebind after the protection period"),
    "register_only": N_("New members only"),
}
SHARER_MODES = {
    "everyone": N_("Everyone, at once"),
    "everyone_after_purchase": N_("Everyone after a received order"),
    "spend_threshold": N_("Above a spend threshold"),
    "approval": N_("By application and review"),
    "invited": N_("Appointed by the shop only"),
}
SETTLEMENTS = {"realtime": N_("Realtime: available as soon as the order completes"), "t_plus_1": N_("T+1: in the next daily batch")}
# The editor offers exactly the choices the settings allow: a choice without a label here
# fails at import, not silently on the page.
BIND_MODES = {c: BIND_MODES[c] for c in referral.SETTINGS["bind_mode"].choices}
SHARER_MODES = {c: SHARER_MODES[c] for c in referral.SETTINGS["sharer_mode"].choices}
SETTLEMENTS = {c: SETTLEMENTS[c] for c in rules.SETTINGS["settlement"].choices}
SETTLEMENT_SHORT = {"realtime": N_("realtime settlement"), "t_plus_1": N_("T+1 settlement")}
LABELS = {
    "levels": N_("Commission levels"),
    "rate_1": N_("Level 1 rate (bp)"),
    "rate_2": N_("Level 2 rate (bp)"),
    "rate_3": N_("Level 3 rate (bp)"),
    "leader_rate_bp": N_("Leader rate (bp)"),
    "cap_bp": N_("Cap per line (bp)"),
    "bind_mode": N_("Bind mode"),
    "protection_days": N_("Protection period (days)"),
    "sharer_mode": N_("Who becomes a sharer"),
    "spend_threshold": N_("Spend threshold (yuan)"),
    "settlement": N_("Settlement"),
    "auto_confirm_days": N_("Days until receipt is confirmed automatically"),
    "after_sales_days": N_("After-sales window (days)"),
    "withdraw_min": N_("Minimum withdrawal (yuan)"),
    "withdraw_fee_bp": N_("Withdrawal fee (bp)"),
    "withdraw_auto_max": N_("Approve automatically up to (yuan)"),
    "bonus": N_("Monthly bonus tiers"),
    "overrides": N_("Rate overrides"),
}
BONUS_ROWS = 3  # empty tier rows the editor shows at least
MAX_BONUS_ROWS = 10  # as many as the API accepts
# Which part of the form a refused rule set points at.
ERROR_FIELDS = {
    "commission.levels_over_max": "levels",
    "commission.rates_length": "rates",
    "commission.rate_invalid": "rates",
    "commission.rates_over_cap": "rates",
    "commission.settlement_invalid": "settlement",
    "commission.bonus_invalid": "bonus",
    "referral.mode_invalid": "sharer_mode",
    "referral.threshold_required": "spend_threshold",
}


# The settings this editor shows, each from its owner (defaults and bounds in one place).
SPECS = (rules.SETTINGS, referral.SETTINGS, order_settings.SETTINGS)
DAYS = ("auto_confirm_days", "after_sales_days")  # the order settings edited here


def allowed_levels(page: Page) -> int:
    return min(page.ctx.settings.max_levels, rules.SETTINGS.bounds("levels")[1])


def _knob(name: object) -> Knob | None:
    return next((spec[name] for spec in SPECS if name in spec), None)


def _desk(view: MerchantView, section: str) -> dict[str, Any]:
    return {"view": view, "section": section, "can_finance": view.can(Permission.finance), **NAMES}


# --- the merchant page's section -------------------------------------------------------------------


@merchant_section(order=30)
def distribution_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    mid = view.merchant.id
    waiting = len(withdrawals.desk(s, page.who, mid, "pending_review")) if view.can(Permission.finance) else None
    context = {
        "page": page, "translations": page.translations, "view": view, "rules": service.current(s, mid), "settlements": SETTLEMENT_SHORT,
        "applications": len(referral.list_sharers(s, page.who, mid, "applied")), "waiting": waiting,
    }
    return Markup(templating.render("commission/_section.html", context))


@order_panel(order=10)
def rule_version_panel(page: Page, s: Session, view: MerchantView, order_id: int) -> Markup | None:
    """On an order's console page: the commission rule-set version in force when it was paid."""
    version = service.rule_version_of(s, order_id)
    if version is None:
        return None
    context = {"page": page, "translations": page.translations, "rule_version": version}
    return Markup(templating.render("commission/_order_rule_version.html", context))


# --- the rule-set editor -----------------------------------------------------------------------------


def _yuan_text(fen: int | None) -> str:
    return format_yuan(fen) if fen else ""


def rule_values(s: Session, who: Principal, merchant_id: int) -> dict[str, str]:
    """The form's values for the rule set in force (money in 元, rates in bp)."""
    v = service.get_rules(s, who, merchant_id)
    r = referral.settings_for(s, merchant_id)
    o = order_settings.get(s, who, merchant_id)
    rates = [str(x) for x in v.rates_bp] + [""] * 3
    tiers = list(v.bonus_tiers or [])[:MAX_BONUS_ROWS]
    tiers += [[None, None]] * (MAX_BONUS_ROWS - len(tiers))
    values = {
        "levels": str(v.levels), "rate_1": rates[0], "rate_2": rates[1], "rate_3": rates[2], "leader_rate_bp": str(v.leader_rate_bp), "cap_bp": str(v.cap_bp),
        "self_purchase": "1" if v.self_purchase else "", "bind_mode": r.bind_mode, "protection_days": str(r.protection_days), "sharer_mode": r.sharer_mode,
        "spend_threshold": _yuan_text(r.spend_threshold), "settlement": v.settlement, "auto_confirm_days": str(o.auto_confirm_days), "after_sales_days": str(o.after_sales_days),
        "withdraw_min": format_yuan(v.withdraw_min), "withdraw_fee_bp": str(v.withdraw_fee_bp), "withdraw_auto_max": format_yuan(v.withdraw_auto_max),
    }
    for i in range(MAX_BONUS_ROWS):
        values[f"bonus_min_{i}"] = _yuan_text(tiers[i][0])
        values[f"bonus_bp_{i}"] = str(tiers[i][1]) if tiers[i][1] is not None else ""
    return values


def form_values(form: FormData) -> dict[str, str]:
    names = [n for n in LABELS if not n.startswith(("bonus", "overrides"))] + ["self_purchase"] + [f"bonus_{k}_{i}" for i in range(MAX_BONUS_ROWS) for k in ("min", "bp")]
    return {n: text(form, n)[:40] for n in names}  # long enough for every option value


def _whole(values: dict[str, str], name: str, lo: int | None = None, hi: int | None = None) -> int:
    raw = values.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or (lo is not None and not lo <= int(raw) <= hi):
        extra = {"lo": lo, "hi": hi} if lo is not None else {}
        raise Invalid("commission.field_invalid", f"{name}: enter a whole number.", field=name, kind="number", **extra)
    return int(raw)


def _fen(values: dict[str, str], name: str) -> int:
    try:
        return parse_yuan(values.get(name, ""))
    except ValueError:
        raise Invalid("commission.field_invalid", f"{name}: enter an amount in yuan.", field=name, kind="yuan") from None


def bonus_rows(values: dict[str, str]) -> int:
    """Tier rows to show: every filled one, and at least ``BONUS_ROWS``."""
    filled = [i for i in range(MAX_BONUS_ROWS) if values.get(f"bonus_min_{i}") or values.get(f"bonus_bp_{i}")]
    return min(max(BONUS_ROWS, (filled[-1] + 2) if filled else 0), MAX_BONUS_ROWS)


def _label(page: Page, field: str) -> str:
    if field.startswith("bonus_min_"):
        return page._(N_("Monthly GMV from (yuan)")) + f" {int(field.rsplit('_', 1)[1]) + 1}"
    if field.startswith("bonus_bp_"):
        return page._(N_("Bonus (bp)")) + f" {int(field.rsplit('_', 1)[1]) + 1}"
    return page._(LABELS[field]) if field in LABELS else field


def rule_input(values: dict[str, str], overrides: dict, allowed: int) -> tuple[service.RuleSetInput, dict[str, int]]:
    """The rule set a submitted form asks for (and the two order settings it edits).
    Only the rates of the levels in use are read; the service validates the whole set."""
    levels = _whole(values, "levels")
    rates = [_whole(values, f"rate_{i}") for i in range(1, min(levels, allowed) + 1)]
    tiers = []
    for i in range(MAX_BONUS_ROWS):
        if values.get(f"bonus_min_{i}") or values.get(f"bonus_bp_{i}"):
            tiers.append([_fen(values, f"bonus_min_{i}"), _whole(values, f"bonus_bp_{i}")])
    inp = service.RuleSetInput(
        levels=levels, rates_bp=rates, leader_rate_bp=_whole(values, "leader_rate_bp"), cap_bp=_whole(values, "cap_bp"), self_purchase=values.get("self_purchase") == "1",
        settlement=values.get("settlement", ""), withdraw_min=_fen(values, "withdraw_min"), withdraw_fee_bp=_whole(values, "withdraw_fee_bp"),
        withdraw_auto_max=_fen(values, "withdraw_auto_max"), overrides=overrides, bonus_tiers=tiers, bind_mode=values.get("bind_mode", ""),
        protection_days=_whole(values, "protection_days"), sharer_mode=values.get("sharer_mode", ""),
        spend_threshold=_fen(values, "spend_threshold") if values.get("spend_threshold") else 0,
    )
    days = {f: _whole(values, f, *order_settings.SETTINGS.bounds(f)) for f in DAYS}
    return inp, days


def rule_error(page: Page, exc: DomainError) -> tuple[str, str | None]:
    """(message, the form field it points at) for a refused rule set."""
    extra = exc.extra
    if exc.code == "commission.field_invalid":
        if extra.get("kind") == "yuan":
            message = page._(N_("%(field)s: enter an amount in yuan with at most 2 decimals, e.g. 12.50."))
        elif "lo" in extra:
            message = page._(N_("%(field)s: enter a whole number from %(min)s to %(max)s."))
        else:
            message = page._(N_("%(field)s: enter a whole number."))
        field = extra["field"]
        return message % {"field": _label(page, field), "min": extra.get("lo"), "max": extra.get("hi")}, "bonus" if field.startswith("bonus_") else field
    if exc.code == "commission.levels_over_max" and "max_levels" in extra:
        return page._(N_("This platform allows 1 to %(n)s commission levels.")) % {"n": extra["max_levels"]}, "levels"
    if exc.code == "commission.rates_over_cap" and "cap_headroom_bp" in extra:
        return page._(N_("The largest monthly bonus plus the rates of one line would exceed the cap: a bonus may be at most %(bp)s bp here.")) % {"bp": max(extra["cap_headroom_bp"], 0)}, "bonus"
    knob = _knob(extra.get("field")) if "lo" in extra else None
    if knob is not None:  # a setting outside its bounds, as the service refused it
        if knob.unit == "fen":
            message, lo, hi = page._(N_("%(field)s: enter a number from %(min)s to %(max)s.")), format_yuan(knob.lo), format_yuan(knob.hi)
        else:
            message, lo, hi = page._(N_("%(field)s: enter a whole number from %(min)s to %(max)s.")), knob.lo, knob.hi
        return message % {"field": _label(page, knob.name), "min": lo, "max": hi}, knob.name
    field = extra.get("field")
    if isinstance(field, str) and ":" in field:  # an override table (category / product / campaign)
        return page._(N_("Rate override %(name)s: %(problem)s")) % {"name": field, "problem": page.error_text(exc)}, "overrides"
    if exc.code == "commission.rates_over_cap":
        return page._(N_("The level rates plus the leader rate add up to more than the cap of %(cap)s bp (%(pct)s).")) % {"cap": extra.get("cap_bp"), "pct": f"{extra.get('cap_bp', 0) / 100:g}%"}, "rates"
    return page.error_text(exc), ERROR_FIELDS.get(exc.code)


def _rules_page(page: Page, s: Session, who: Principal, mid: int, *, values: dict | None = None, status: int = 200, error: str | None = None, bad: str | None = None) -> Response:
    view = merchant_view(s, who, mid)
    current = service.get_rules(s, who, mid)
    allowed = allowed_levels(page)
    values = values or rule_values(s, who, mid)
    saved = page.request.query_params.get("saved") == "1"
    return page.render(
        "commission/console_rules.html", status=status, error=error, bad=bad, values=values, current=current, allowed=allowed,
        can_edit=view.can(Permission.manage_rules), labels=LABELS, bind_modes=BIND_MODES, sharer_modes=SHARER_MODES, settlements=SETTLEMENTS,
        bonus_rows=bonus_rows(values), day_bounds={f: order_settings.SETTINGS.bounds(f) for f in DAYS}, level_bounds=rules.SETTINGS.bounds("levels"), overrides=current.overrides or {},
        notice=page._(N_("Saved as version %(n)s. Orders paid from now on use it.")) % {"n": current.version} if saved and error is None else None,
        **_desk(view, "rules"),
    )


@router.get("/console/merchants/{mid}/commission-rules")
def rules_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _rules_page(page, s, who, mid)


@router.post("/console/merchants/{mid}/commission-rules")
def save_rules(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, ctx: Ctx, now: Now) -> Response:
    """A new version of the rule set (and the order settings it shows), or the form again
    with the first problem next to its field."""
    values = form_values(form)
    try:
        with attempt(s):
            overrides = service.get_rules(s, who, mid).overrides or {}  # kept as they are (edited through the API)
            inp, days = rule_input(values, overrides, allowed_levels(page))
            service.put_rules(s, who, mid, inp, ctx.settings.max_levels, now)
            order_settings.put(s, who, mid, days)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        message, field = rule_error(page, exc)
        return _rules_page(page, s, who, mid, values=values, status=exc.status, error=message, bad=field)
    return page.redirect(f"/console/merchants/{mid}/commission-rules?saved=1")


# --- the withdrawal desk -------------------------------------------------------------------------------


def _withdrawals_page(page: Page, s: Session, who: Principal, mid: int, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    pending = withdrawals.desk(s, who, mid, "pending_review")
    recent = [w for w in withdrawals.desk(s, who, mid) if w.status != "pending_review"][:50]
    people = identity.members_by_ids(s, list({w.member_id for w in pending + recent}))
    rules = service.current(s, mid)
    return page.render("commission/console_withdrawals.html", status=status, pending=pending, recent=recent, people=people, rules=rules, state=state or {}, **_desk(view, "withdrawals"))


@router.get("/console/merchants/{mid}/withdrawals")
def withdrawals_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _withdrawals_page(page, s, who, mid)


def _decide(page: Page, s: Session, who: Principal, mid: int, wid: int, form: FormData, decision) -> Response:
    try:
        with attempt(s):
            decision()
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return _withdrawals_page(page, s, who, mid, state={"row": wid, "row_error": page.error_text(exc), "reason": text(form, "reason")}, status=exc.status)
    return page.redirect(safe_next(text(form, "next"), f"/console/merchants/{mid}/withdrawals"))


@router.post("/console/merchants/{mid}/withdrawals/{wid}/approve")
def approve(mid: Id, wid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _decide(page, s, who, mid, wid, form, lambda: withdrawals.approve(s, who, mid, wid, now))


@router.post("/console/merchants/{mid}/withdrawals/{wid}/reject")
def reject(mid: Id, wid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _decide(page, s, who, mid, wid, form, lambda: withdrawals.reject(s, who, mid, wid, text(form, "reason")[:200], now))


# --- settlement and the ledger check ----------------------------------------------------------------------


@router.get("/console/merchants/{mid}/settlement")
def settlement_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    view = merchant_view(s, who, mid)
    identity.require_permission(s, who, mid, Permission.finance)
    problems = ledger.check(s, mid)
    people = identity.members_by_ids(s, [p.member_id for p in problems[:1] if p.member_id])
    return page.render(
        "commission/console_settlement.html", batches=settlement.batches_of(s, mid, limit=30), problem=problems[0] if problems else None,
        problem_count=len(problems), people=people, rules=service.current(s, mid), settlements=SETTLEMENT_SHORT, **_desk(view, "settlement"),
    )

