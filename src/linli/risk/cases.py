"""Decisions and cases: a rule's finding is recorded once per (rule, subject, member) with
the rule-set version; a finding that scores joins the member's open case (opened on the
first one that reaches review), whose score is the sum of its distinct rules' scores and
whose level only rises. At hold or block the sharer's commission is held through
commission's holds (reason ``risk:<case id>``) until staff decide — release, claw back or
suspend — with a reason, within the SLA (``sla_days``, default 7). A staff "false positive"
snoozes the case's rules for that member (``snooze_days``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli.commission import service as commission
from linli.db import is_unique_violation
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.referral import service as referral
from linli.risk import rule_set, rulesets
from linli.risk.models import RiskCase, RiskDecision, RiskSnooze
from linli.risk.rule_set import RiskRules

OUTCOMES = ("release", "claw_back", "suspend")
STATUSES = ("open", "closed")
REASON_MAX = 500


def hold_reason(case_id: int) -> str:
    return f"risk:{case_id}"


def snoozed(s: Session, merchant_id: int, member_id: int, rule: str, now: datetime) -> bool:
    q = select(RiskSnooze.id).where(RiskSnooze.merchant_id == merchant_id, RiskSnooze.member_id == member_id, RiskSnooze.rule == rule, RiskSnooze.until > now)
    return s.scalars(q.limit(1)).first() is not None


def record(
    s: Session, rs: RiskRules, merchant_id: int, member_id: int, subject_kind: str, subject_id: int, rule: str, now: datetime, *,
    evidence: dict[str, Any], outcome: str | None = None, score: int | None = None,
) -> RiskDecision | None:
    """Record that ``rule`` fired for ``member_id`` on the subject (None if the rule is
    snoozed for them, or if this finding was recorded before: a replay decides nothing).
    ``outcome`` is the finding's own effect when it has one (a share refused on an order:
    block); else what its score (the rule's, unless given) alone maps to. A scoring finding
    joins the member's case."""
    if snoozed(s, merchant_id, member_id, rule, now):
        return None
    score = rs.score(rule) if score is None else score
    d = RiskDecision(
        merchant_id=merchant_id, member_id=member_id, subject_kind=subject_kind, subject_id=subject_id, rule=rule, score=score,
        outcome=outcome or rule_set.outcome(score, rs), rule_version=rs.version, evidence=evidence, created_at=now,
    )
    try:
        with s.begin_nested():
            s.add(d)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        return None
    if score > 0:
        _join_case(s, rs, d, now)
    return d


def _open_case(s: Session, merchant_id: int, member_id: int) -> RiskCase | None:
    return s.scalars(select(RiskCase).where(RiskCase.merchant_id == merchant_id, RiskCase.open_key == member_id)).first()


def _scores(s: Session, case_id: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for rule, score in s.execute(select(RiskDecision.rule, RiskDecision.score).where(RiskDecision.case_id == case_id)):
        out[rule] = max(out.get(rule, 0), score)
    return out


def _join_case(s: Session, rs: RiskRules, d: RiskDecision, now: datetime) -> None:
    """Attach the finding to the member's open case (opening one if this finding alone
    reaches review) and raise the case's score and level; at hold, hold. The score update is
    conditional on the case still being open, so a finding racing a staff decision either
    lands in the case before it closes or opens a new one — never in a closed case."""
    for _ in range(3):
        case = _open_case(s, d.merchant_id, d.member_id)
        if case is None:
            if rule_set.outcome(d.score, rs) == rule_set.APPROVE:
                return  # no case, and this finding alone does not open one
            case = _new_case(s, rs, d, now)
        d.case_id = case.id
        s.flush()
        score = rule_set.case_score(_scores(s, case.id))
        level = max(rule_set.outcome(score, rs), case.level, key=rule_set.OUTCOMES.index)
        moved = s.execute(update(RiskCase).where(RiskCase.id == case.id, RiskCase.status == "open").values(score=score, level=level, rule_version=rs.version)).rowcount
        if moved == 1:
            s.refresh(case)
            if rule_set.holds(case.level):
                commission.hold(s, case.merchant_id, case.member_id, hold_reason(case.id), now)
            return
        d.case_id = None  # closed by staff under us: a fresh case
        s.flush()
    raise Conflict("risk.busy", "The case changed while this was decided; try again.")


def _new_case(s: Session, rs: RiskRules, d: RiskDecision, now: datetime) -> RiskCase:
    case = RiskCase(
        merchant_id=d.merchant_id, member_id=d.member_id, open_key=d.member_id, status="open", level=rule_set.REVIEW, score=0,
        rule_version=rs.version, opened_at=now, due_at=now + timedelta(days=rs["sla_days"]),
    )
    try:
        with s.begin_nested():
            s.add(case)
        return case
    except IntegrityError as exc:  # opened at the same moment by another finding
        if not is_unique_violation(exc):
            raise
    found = _open_case(s, d.merchant_id, d.member_id)
    assert found is not None
    return found


# --- the desk ----------------------------------------------------------------------------------


@dataclass
class CaseView:
    case: RiskCase
    decisions: list[RiskDecision]
    held: commission.HoldView
    overdue: bool


def _view(s: Session, case: RiskCase, now: datetime) -> CaseView:
    decisions = list(s.scalars(select(RiskDecision).where(RiskDecision.case_id == case.id).order_by(RiskDecision.id)))
    return CaseView(case, decisions, commission.hold_view(s, case.merchant_id, case.member_id), case.status == "open" and case.due_at <= now)


def list_cases(s: Session, who: Principal, merchant_id: int, status: str | None, now: datetime, limit: int = 100) -> list[CaseView]:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    if status is not None and status not in STATUSES:
        raise Invalid("risk.status_invalid", f"status is one of {', '.join(STATUSES)}.", field="status", choices=list(STATUSES))
    q = select(RiskCase).where(RiskCase.merchant_id == merchant_id)
    if status:
        q = q.where(RiskCase.status == status)
    # Open cases by due date (the overdue first); closed ones, the latest decided first.
    order = (RiskCase.closed_at.desc(), RiskCase.id.desc()) if status == "closed" else (RiskCase.status.desc(), RiskCase.due_at, RiskCase.id.desc())
    q = q.order_by(*order).limit(min(max(limit, 1), 500))
    return [_view(s, c, now) for c in s.scalars(q)]


def open_counts(s: Session, who: Principal, merchant_id: int, now: datetime) -> tuple[int, int]:
    """(open cases, of which past their SLA): the merchant page's badge."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    q = select(func.count()).select_from(RiskCase).where(RiskCase.merchant_id == merchant_id, RiskCase.status == "open")
    return s.scalar(q) or 0, s.scalar(q.where(RiskCase.due_at <= now)) or 0


def get_case(s: Session, who: Principal, merchant_id: int, case_id: int, now: datetime) -> CaseView:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    return _view(s, _case(s, merchant_id, case_id), now)


def _case(s: Session, merchant_id: int, case_id: int) -> RiskCase:
    case = s.get(RiskCase, case_id)
    if case is None or case.merchant_id != merchant_id:
        raise NotFound("risk.case_not_found", "No such case.")
    return case


def decide(s: Session, who: Principal, merchant_id: int, case_id: int, outcome: str, reason: str | None, now: datetime, *, false_positive: bool = False) -> CaseView:
    """Close an open case: ``release`` lets the held commission go on (available again, the
    frozen part on its normal schedule); ``claw_back`` takes the held and frozen commission
    back; ``suspend`` claws back and suspends the sharer. A reason is required. Closing is a
    compare-and-set: of two staff deciding at once, one wins and the other gets
    ``risk.case_closed``. ``false_positive`` snoozes each rule of the case for the member."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    if outcome not in OUTCOMES:
        raise Invalid("risk.outcome_invalid", f"outcome is one of {', '.join(OUTCOMES)}.", field="outcome", choices=list(OUTCOMES))
    text = (reason or "").strip()
    if not text:
        raise Invalid("risk.reason_required", "Say why: a decision needs a reason.", field="reason")
    if len(text) > REASON_MAX or "\x00" in text:
        raise Invalid("risk.reason_invalid", f"The reason is at most {REASON_MAX} characters of text.", field="reason", max_length=REASON_MAX)
    if false_positive and outcome != "release":
        raise Invalid("risk.false_positive_release", "A false positive is released, not clawed back.", field="false_positive")
    case = _case(s, merchant_id, case_id)
    closed = s.execute(
        update(RiskCase).where(RiskCase.id == case.id, RiskCase.status == "open")
        .values(status="closed", open_key=None, closed_at=now, outcome=outcome, reason=text, decided_by=who.member_id, false_positive=false_positive)
    ).rowcount
    if closed != 1:
        raise Conflict("risk.case_closed", "This case was already decided.")
    s.refresh(case)
    reason_key = hold_reason(case.id)
    if outcome == "release":
        case.amount = commission.release_hold(s, merchant_id, case.member_id, reason_key, now)
    else:
        case.amount = commission.claw_back(s, merchant_id, case.member_id, reason_key, now)
        if outcome == "suspend":
            referral.suspend(s, merchant_id, case.member_id, now, note=f"risk case {case.id}: {text}"[:200])
    if false_positive:
        rs_days = _snooze_days(s, merchant_id)
        for rule in sorted(_scores(s, case.id)):
            _snooze(s, merchant_id, case.member_id, rule, now + timedelta(days=rs_days), case.id, who.member_id, now)
    s.flush()
    return _view(s, case, now)


def _snooze_days(s: Session, merchant_id: int) -> int:
    return int(rulesets.current(s, merchant_id)["snooze_days"])


def _snooze(s: Session, merchant_id: int, member_id: int, rule: str, until: datetime, case_id: int, by: int, now: datetime) -> None:
    row = s.scalars(select(RiskSnooze).where(RiskSnooze.merchant_id == merchant_id, RiskSnooze.member_id == member_id, RiskSnooze.rule == rule)).first()
    if row is None:
        s.add(RiskSnooze(merchant_id=merchant_id, member_id=member_id, rule=rule, until=until, case_id=case_id, created_by=by, created_at=now))
    else:
        row.until, row.case_id, row.created_by, row.created_at = max(row.until, until), case_id, by, now


def remind_overdue(s: Session, now: datetime) -> list[RiskCase]:
    """Open cases past their SLA not yet reminded: marked reminded (once), returned for the
    job to log; the desk shows them first, flagged 逾期."""
    due = list(s.scalars(select(RiskCase).where(RiskCase.status == "open", RiskCase.due_at <= now, RiskCase.reminded_at.is_(None)).order_by(RiskCase.id).limit(500)))
    for case in due:
        case.reminded_at = now
    s.flush()
    return due


def decisions_on(s: Session, merchant_id: int, subject_kind: str, subject_id: int) -> list[RiskDecision]:
    """What risk decided on one order or binding (the console order page shows it)."""
    q = select(RiskDecision).where(RiskDecision.merchant_id == merchant_id, RiskDecision.subject_kind == subject_kind, RiskDecision.subject_id == subject_id)
    return list(s.scalars(q.order_by(RiskDecision.id)))
