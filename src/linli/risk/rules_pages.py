"""Risk pages (console): the merchant page's 风控 section (anchor ``#risk``) and the rule-set
editor ``/console/merchants/{mid}/risk/rules`` — every rule with what it does in plain words,
its switch, score and thresholds (with units), the three outcome thresholds, the SLA and the
false-positive snooze, the version in force and who changed what, when. The risk desk's
case pages (案件, ``desk_pages``) are siblings under ``/console/merchants/{mid}/risk/``; the
section links to both, with the count of open (and overdue) cases.

Finance staff and the owner only (``rulesets``). Saving is one use case in a savepoint: a
field that is not a whole number, a value outside its bounds or thresholds out of order
come back as the form with what was typed and the error on its field (422), nothing saved.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import rules as identity_rules
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.risk import cases, rule_set, rulesets
from linli.risk.rule_set import SPEC
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages({
    "risk.thresholds_order": N_("The outcome thresholds must keep their order: review ≤ hold < block."),
    "risk.rules_conflict": N_("Someone else saved the rules at the same moment; reload the page and save again."),
})

# Each rule: its name, what it does in plain words, and its thresholds (knobs) in order.
RULE_NAMES = {
    rule_set.SELF_REFERRAL: N_("Self-referral"),
    rule_set.CLUSTER: N_("Cluster"),
    rule_set.VELOCITY: N_("Velocity"),
    rule_set.REFUND_RATE: N_("Refund rate"),
    rule_set.SINGLE_SHARER: N_("New accounts through one sharer"),
    rule_set.CROSS_AREA: N_("Cross-area pickup"),
}
RULE_TEXTS = {
    rule_set.SELF_REFERRAL: N_("The buyer shares a phone number, device, payer account or address with a beneficiary → that beneficiary earns no commission on this order."),
    rule_set.CLUSTER: N_("Several members on one device or address within the period, all bound to one sharer → the sharer's case scores."),
    rule_set.VELOCITY: N_("More orders than allowed in an hour or in a day from new members through one sharer → the sharer's case scores."),
    rule_set.REFUND_RATE: N_("Refunds on more than this share of a sharer's attributed orders within the period → the sharer's case scores."),
    rule_set.SINGLE_SHARER: N_("New accounts that buy only through one sharer, and are all of that sharer's buyers in the period → the sharer's case scores."),
    rule_set.CROSS_AREA: N_("Pickup or delivery farther than this outside the leader's community (跨区引流) → no leader commission on that order."),
}
PARAMS = {
    rule_set.SELF_REFERRAL: (),
    rule_set.CLUSTER: ("cluster_min_members", "cluster_days"),
    rule_set.VELOCITY: ("velocity_per_hour", "velocity_per_day", "velocity_new_days"),
    rule_set.REFUND_RATE: ("refund_rate_max_bp", "refund_rate_days", "refund_rate_min_orders"),
    rule_set.SINGLE_SHARER: ("single_sharer_min_accounts", "single_sharer_days"),
    rule_set.CROSS_AREA: ("cross_area_distance_m",),
}
OUTCOMES = ("review_at", "hold_at", "block_at")
OUTCOME_NAMES = {rule_set.APPROVE: N_("Approve"), rule_set.REVIEW: N_("Review"), rule_set.HOLD: N_("Hold"), rule_set.BLOCK: N_("Block")}
CASES = ("sla_days", "snooze_days")
LABELS = {
    "score": N_("Score (points)"),
    "enabled": N_("On"),
    "cluster_min_members": N_("Members on one device or address, at least"),
    "cluster_days": N_("Within (days)"),
    "velocity_per_hour": N_("Orders an hour, more than"),
    "velocity_per_day": N_("Orders a day, more than"),
    "velocity_new_days": N_("A member counts as new for (days)"),
    "refund_rate_max_bp": N_("Refund rate over (bp)"),
    "refund_rate_days": N_("Within (days)"),
    "refund_rate_min_orders": N_("Counted from this many attributed orders"),
    "single_sharer_min_accounts": N_("New accounts, at least"),
    "single_sharer_days": N_("Within (days)"),
    "cross_area_distance_m": N_("Distance outside the community (metres)"),
    "review_at": N_("Review from (points)"),
    "hold_at": N_("Hold from (points)"),
    "block_at": N_("Block from (points)"),
    "sla_days": N_("Staff decide a case within (days)"),
    "snooze_days": N_("A false positive snoozes the rule for that member for (days)"),
}
# Every rule and knob is on the page: one without a name, a text or a place fails at import.
_PLACED = {f"{r}_{p}" for r in rule_set.RULES for p in ("enabled", "score")} | {p for ps in PARAMS.values() for p in ps} | set(OUTCOMES) | set(CASES)
_UNLABELLED = {n for n in SPEC.names if not n.endswith(("_enabled", "_score"))} - set(LABELS)
if not (set(RULE_NAMES) == set(RULE_TEXTS) == set(PARAMS) == set(rule_set.RULES)) or set(SPEC.names) - _PLACED or _UNLABELLED:
    raise RuntimeError(f"a risk rule or knob has no place on the rules page: {sorted(set(SPEC.names) - _PLACED) + sorted(_UNLABELLED)}")


def _rule_of(name: str) -> tuple[str | None, str]:
    """(the rule a knob belongs to, or None, and its label key)."""
    for rule in rule_set.RULES:
        for part in ("enabled", "score"):
            if name == f"{rule}_{part}":
                return rule, part
        if name in PARAMS[rule]:
            return rule, name
    return None, name


def label(page: Page, name: str, full: bool = False) -> str:
    """A knob's label: in its rule's box on the form the short one (分值（分）), elsewhere
    with the rule's name first (设备/地址聚集 · 分值（分）)."""
    rule, key = _rule_of(name)
    text = page._(LABELS[key]) if key in LABELS else name
    return f"{page._(RULE_NAMES[rule])} · {text}" if full and rule else text


def rules_values(rules: rule_set.RiskRules) -> dict[str, str]:
    """The form's values for a version (a switch is "1" when on)."""
    return {k.name: ("1" if rules[k.name] else "") if isinstance(k.default, bool) else str(rules[k.name]) for k in SPEC}


def form_values(form: FormData) -> dict[str, str]:
    return {k.name: ("1" if text(form, k.name) == "1" else "") if isinstance(k.default, bool) else text(form, k.name)[:12] for k in SPEC}


def form_changes(values: dict[str, str]) -> dict[str, Any]:
    """The knobs a submitted form asks for; a field that is not a whole number is refused
    naming it and its bounds (the service checks the bounds and the order)."""
    changes: dict[str, Any] = {}
    for k in SPEC:
        raw = values[k.name]
        if isinstance(k.default, bool):
            changes[k.name] = raw == "1"
        elif raw.isascii() and raw.isdigit() and len(raw) <= 9:
            changes[k.name] = int(raw)
        else:
            raise Invalid(SPEC.code, f"{k.name}: enter a whole number.", field=k.name, lo=k.lo, hi=k.hi)
    return changes


def rules_error(page: Page, exc: DomainError) -> tuple[str, str | None]:
    """(message, the form field it points at) for a refused rule set."""
    field = exc.extra.get("field")
    if exc.code == SPEC.code and field in SPEC and SPEC[field].lo is not None:
        k = SPEC[field]
        return page._(N_("%(field)s: enter a whole number from %(min)s to %(max)s.")) % {"field": label(page, field, full=True), "min": k.lo, "max": k.hi}, field
    if exc.code == "risk.thresholds_order":
        return page.error_text(exc), "hold_at"
    return page.error_text(exc), field if field in SPEC else None


def _value_text(page: Page, value: Any) -> str:
    if isinstance(value, bool):
        return page._(N_("on")) if value else page._(N_("off"))
    return str(value)


def change_texts(page: Page, version: rulesets.Saved) -> list[str]:
    line = page._(N_("%(field)s: %(old)s → %(new)s"))
    return [line % {"field": label(page, c.field, full=True), "old": _value_text(page, c.old), "new": _value_text(page, c.new)} for c in version.changes]


# --- the merchant page's section -------------------------------------------------------------------


@merchant_section(order=40)
def risk_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    if not view.can(Permission.finance):
        return Markup("")
    open_cases, overdue = cases.open_counts(s, page.who, view.merchant.id, page.ctx.now())
    context = {"page": page, "translations": page.translations, "view": view, "rules": rulesets.current(s, view.merchant.id), "open_cases": open_cases, "overdue_cases": overdue}
    return Markup(templating.render("risk/_section.html", context))


# --- the rule-set editor -----------------------------------------------------------------------------


def _url(mid: int) -> str:
    return f"/console/merchants/{mid}/risk/rules"


def _page(page: Page, s: Session, who: Principal, mid: int, *, values: dict[str, str] | None = None, status: int = 200, error: str | None = None, bad: str | None = None) -> Response:
    view = merchant_view(s, who, mid)
    saved = rulesets.get(s, who, mid)
    history = rulesets.history(s, who, mid, 20)
    people = identity.members_by_ids(s, list({v.created_by for v in history if v.created_by}))
    notice = None
    if page.request.query_params.get("saved") == "1" and error is None and saved.version:
        notice = page._(N_("Saved as version %(n)s. Orders paid from now on are checked with it.")) % {"n": saved.version}
    return page.render(
        "risk/rules.html", status=status, view=view, section="rules", saved=saved, values=values or rules_values(saved.rules), error=error, bad=bad, notice=notice,
        rules=rule_set.RULES, rule_names=RULE_NAMES, rule_texts=RULE_TEXTS, params=PARAMS, outcomes=OUTCOMES, cases=CASES, spec=SPEC, label=lambda n: label(page, n),
        history=history, people=people, mask_phone=identity_rules.mask_phone, changes=lambda v: change_texts(page, v),
        alone=lambda rule: page._(OUTCOME_NAMES[rule_set.outcome(saved.rules.score(rule), saved.rules)]),
    )


@router.get("/console/merchants/{mid}/risk/rules")
def rules_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _page(page, s, who, mid)


@router.post("/console/merchants/{mid}/risk/rules")
def save_rules(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """A new version of the rule set, or the form again with the problem next to its field."""
    values = form_values(form)
    try:
        with attempt(s):
            rulesets.put(s, who, mid, form_changes(values), now)
    except DomainError as exc:
        if exc.code in ("merchant.not_found", "auth.role_forbidden"):
            raise
        message, field = rules_error(page, exc)
        return _page(page, s, who, mid, values=values, status=exc.status, error=message, bad=field)
    return page.redirect(f"{_url(mid)}?saved=1")
