"""Risk pages (console): the case desk, one case with its decision form, and the order
page's risk panel.

- ``/console/merchants/{mid}/risk/cases?status=open|closed``: the cases, the overdue (逾期)
  first, then block before hold before review; each with its sharer, level, score, the rules
  that fired, the masked shared signals, the commission held and frozen, opened and due.
- ``/console/merchants/{mid}/risk/cases/{cid}``: every decision in plain words (which kind of
  signal was shared, counts, distances), with a link to the order it was made on; an open
  case has the decision form (release / claw back / suspend, a reason, "false positive"),
  a closed one says who decided what, when and why, and the amount it moved.

Finance staff and the owner only (``cases``). Deciding is one use case in a savepoint: a
refusal (no reason, a false positive clawed back, decided meanwhile) comes back as the case
page with the error in place and what was typed, nothing decided; a double submit of one
form decides once (the form's idempotency key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli import idempotency
from linli.errors import DomainError
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission, mask_phone
from linli.identity.service import Principal
from linli.money import format_yuan
from linli.risk import cases, rule_set, rules
from linli.risk.cases_api import signals_of
from linli.risk.models import RiskDecision
from linli.risk.rules_pages import OUTCOME_NAMES, RULE_NAMES
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_view, order_panel
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages({
    "risk.reason_required": N_("Say why: a decision needs a reason."),
    "risk.reason_invalid": N_("The reason is at most 500 characters of text."),
    "risk.false_positive_release": N_("A false positive is released, not clawed back: choose release, or untick false positive."),
    "risk.outcome_invalid": N_("Choose release, claw back or suspend."),
    "risk.case_closed": N_("This case was already decided."),
    "risk.case_not_found": N_("No such case."),
    "risk.busy": N_("The case changed while this was decided; try again."),
})

LEVEL_NAMES = {rule_set.REVIEW: N_("To review"), rule_set.HOLD: N_("Hold"), rule_set.BLOCK: N_("Block")}
LEVEL_RANK = {rule_set.BLOCK: 0, rule_set.HOLD: 1, rule_set.REVIEW: 2}  # the desk's order
DECISIONS = {
    "release": (N_("Release"), N_("The held commission is available to the sharer again; frozen commission settles as usual.")),
    "claw_back": (N_("Claw back"), N_("The held and frozen commission is taken back.")),
    "suspend": (N_("Suspend the sharer"), N_("Claw back, and suspend the sharer: no new commission, no withdrawals.")),
}
AMOUNT_NAMES = {"release": N_("Available again"), "claw_back": N_("Taken back"), "suspend": N_("Taken back")}
DONE = {
    "release": N_("Released: ¥%(amount)s is available to the sharer again."),
    "claw_back": N_("Clawed back ¥%(amount)s."),
    "suspend": N_("Clawed back ¥%(amount)s and suspended the sharer."),
}
SIGNALS = {"phone": N_("phone %(value)s"), "device": N_("device %(value)s"), "payer": N_("payer account %(value)s"), "address": N_("address %(value)s")}
STATUS_NAMES = {"open": N_("Open cases"), "closed": N_("Closed cases")}
FIELDS = ("outcome", "reason", "false_positive")
if not set(DECISIONS) == set(DONE) == set(AMOUNT_NAMES) == set(cases.OUTCOMES) or set(STATUS_NAMES) != set(cases.STATUSES):
    raise RuntimeError("a case outcome or status has no name on the desk")


def _url(mid: int, cid: int | None = None) -> str:
    return f"/console/merchants/{mid}/risk/cases" + (f"/{cid}" if cid else "")


def signal_text(page: Page, kind: str, value: str) -> str:
    return page._(SIGNALS[kind]) % {"value": value} if kind in SIGNALS else f"{kind} {value}"


def _pct(bp: Any) -> str:
    return f"{int(bp) / 100:g}%"


def _km(metres: Any) -> str:
    return f"{int(metres) / 1000:.1f}"


def evidence_lines(page: Page, d: RiskDecision, phones: dict[int, str]) -> list[str]:
    """What a decision saw, in plain words (masked: kinds, hash prefixes, counts)."""
    e: dict[str, Any] = d.evidence or {}
    shared = [item for item in e.get("shared", []) if isinstance(item, dict)]
    g = page._
    if d.rule == rule_set.SELF_REFERRAL:
        other = e.get("buyer_id") if d.subject_kind == rules.ORDER else e.get("invitee_id")
        who = phones.get(other, "****") if other else "****"
        line = g(N_("Shares %(signal)s with the buyer %(who)s")) if d.subject_kind == rules.ORDER else g(N_("Shares %(signal)s with the new member %(who)s"))
        out = [line % {"signal": signal_text(page, i["kind"], i["value"]), "who": who} for i in shared]
        return out + ([g(N_("earns no commission on this order"))] if d.outcome == rule_set.BLOCK and d.subject_kind == rules.ORDER else [])
    if d.rule == rule_set.CLUSTER:
        line = g(N_("%(n)s accounts on %(signal)s"))
        return [line % {"n": len(i.get("members", [])), "signal": signal_text(page, i["kind"], i["value"])} for i in shared]
    if d.rule == rule_set.VELOCITY and {"last_hour", "last_day"} <= set(e):
        line = g(N_("Orders from new members: %(hour)s in the last hour (limit %(per_hour)s), %(day)s in the last day (limit %(per_day)s)"))
        return [line % {"hour": e["last_hour"], "per_hour": e.get("per_hour", "?"), "day": e["last_day"], "per_day": e.get("per_day", "?")}]
    if d.rule == rule_set.REFUND_RATE and {"orders", "refunded"} <= set(e):
        line = g(N_("%(refunded)s of %(orders)s attributed orders refunded: %(rate)s, over the limit of %(max)s"))
        return [line % {"refunded": e["refunded"], "orders": e["orders"], "rate": _pct(e.get("rate_bp", 0)), "max": _pct(e.get("max_bp", 0))}]
    if d.rule == rule_set.SINGLE_SHARER and "accounts" in e:
        return [g(N_("%(n)s new accounts bought only through this sharer")) % {"n": e["accounts"]}]
    if d.rule == rule_set.CROSS_AREA and "distance_m" in e:
        line = g(N_("%(km)s km from the leader's community (limit %(limit)s km): no leader commission on this order"))
        return [line % {"km": _km(e["distance_m"]), "limit": _km(e.get("limit_m", 0))}]
    return []


@dataclass
class Row:
    """One decision of a case as the case page shows it."""

    rule: str
    subject: str
    link: str | None
    outcome: str
    evidence: list[str]
    version: int
    at: datetime


def _rows(page: Page, mid: int, view: cases.CaseView, phones: dict[int, str]) -> list[Row]:
    out = []
    for d in view.decisions:
        if d.subject_kind == rules.ORDER:
            subject, link = page._(N_("Order #%(id)s")) % {"id": d.subject_id}, f"/console/merchants/{mid}/orders/{d.subject_id}"
        else:
            subject, link = page._(N_("A new member's binding")), None  # the subject id is the binding's event, shown to nobody
        outcome = page._(OUTCOME_NAMES[d.outcome]) if d.outcome in OUTCOME_NAMES else d.outcome
        rule = page._(RULE_NAMES[d.rule]) if d.rule in RULE_NAMES else d.rule
        out.append(Row(rule, subject, link, outcome, evidence_lines(page, d, phones), d.rule_version, d.created_at))
    return out


def _people(s: Session, views: list[cases.CaseView]) -> dict[int, Any]:
    ids: set[int] = set()
    for v in views:
        ids.add(v.case.member_id)
        if v.case.decided_by:
            ids.add(v.case.decided_by)
        for d in v.decisions:
            e = d.evidence or {}
            ids |= {x for x in (e.get("buyer_id"), e.get("invitee_id")) if isinstance(x, int)}
    return identity.members_by_ids(s, list(ids))


def _context(page: Page, view: MerchantView) -> dict[str, Any]:
    labels = {k: page._(v) for k, v in RULE_NAMES.items()}
    return {
        "view": view, "section": "cases", "level_names": LEVEL_NAMES, "decisions": DECISIONS, "status_names": STATUS_NAMES, "mask_phone": mask_phone,
        "rule_labels": lambda v: sorted({labels.get(d.rule, d.rule) for d in v.decisions}), "signals": lambda v: [signal_text(page, x.kind, x.value) for x in signals_of(v)],
    }


# --- the desk ----------------------------------------------------------------------------------------


def desk_order(views: list[cases.CaseView], status: str) -> list[cases.CaseView]:
    if status == "closed":
        return views  # the latest decided first (the service's order)
    return sorted(views, key=lambda v: (not v.overdue, LEVEL_RANK.get(v.case.level, 9), v.case.due_at, v.case.id))


@router.get("/console/merchants/{mid}/risk/cases")
def desk(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    status = page.request.query_params.get("status", "open")
    status = status if status in cases.STATUSES else "open"
    view = merchant_view(s, who, mid)
    views = desk_order(cases.list_cases(s, who, mid, status, now), status)
    return page.render("risk/cases.html", status_filter=status, cases=views, people=_people(s, views), **_context(page, view))


# --- one case ----------------------------------------------------------------------------------------


def _case_page(
    page: Page, s: Session, who: Principal, mid: int, cid: int, now: datetime, *,
    values: dict[str, str] | None = None, error: str | None = None, bad: str | None = None, status: int = 200,
) -> Response:
    view = merchant_view(s, who, mid)
    case = cases.get_case(s, who, mid, cid, now)
    people = _people(s, [case])
    phones = {m.id: mask_phone(m.phone) for m in people.values()}
    c = case.case
    notice = None
    if c.status == "closed" and error is None and page.request.query_params.get("decided") == "1" and c.outcome in DONE:
        notice = page._(DONE[c.outcome]) % {"amount": format_yuan(c.amount)}
    return page.render(
        "risk/case.html", status=status, error=error, bad=bad, notice=notice, case=case, rows=_rows(page, mid, case, phones), people=people,
        values=values or {"outcome": "", "reason": "", "false_positive": ""}, idem=uuid.uuid4().hex, amount_names=AMOUNT_NAMES, **_context(page, view),
    )


@router.get("/console/merchants/{mid}/risk/cases/{cid}")
def case_page(mid: Id, cid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _case_page(page, s, who, mid, cid, now)


@router.post("/console/merchants/{mid}/risk/cases/{cid}/decide")
def decide(mid: Id, cid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """Close the case with the chosen outcome and reason; back to the case (303) saying what
    it moved, or the case again with the refusal in place."""
    reason = form.get("reason")
    values = {"outcome": text(form, "outcome")[:16], "reason": reason if isinstance(reason, str) else "", "false_positive": "1" if text(form, "false_positive") == "1" else ""}
    try:
        with attempt(s):
            body = {k: values[k] for k in FIELDS}
            claim = idempotency.claim(s, f"member:{who.member_id}", f"pages.risk.decide:{mid}:{cid}", text(form, "idem")[:64] or None, body, now)
            if claim.replay is None:
                cases.decide(s, who, mid, cid, values["outcome"], values["reason"], now, false_positive=values["false_positive"] == "1")
                claim.store(s, {"case_id": cid}, 200)
    except DomainError as exc:
        if exc.code in ("merchant.not_found", "auth.role_forbidden", "risk.case_not_found"):
            raise
        field = exc.extra.get("field")
        return _case_page(page, s, who, mid, cid, now, values=values, error=page.error_text(exc), bad=field if field in FIELDS else None, status=exc.status)
    return page.redirect(f"{_url(mid, cid)}?decided=1")


# --- the order page's panel ------------------------------------------------------------------------


@order_panel(order=20)
def risk_panel(page: Page, s: Session, view: MerchantView, order_id: int) -> Markup | None:
    """What risk decided on this order: a self-referral's refused share, 跨区引流's refused
    leader share, a finding that joined a sharer's case (finance and owners see the case)."""
    decisions = cases.decisions_on(s, view.merchant.id, rules.ORDER, order_id)
    if not decisions:
        return None
    members = identity.members_by_ids(s, list({d.member_id for d in decisions}))
    phones = {m.id: mask_phone(m.phone) for m in members.values()}
    context = {"page": page, "translations": page.translations, "decisions": decisions, "phones": phones, "merchant_id": view.merchant.id, "can_desk": view.can(Permission.finance)}
    return Markup(templating.render("risk/_order_panel.html", context))
