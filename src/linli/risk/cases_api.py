"""The risk desk's endpoints: a merchant's cases (per sharer, with their decisions, the
masked signals behind them and the commission held) and the staff decision on one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Response
from pydantic import Field

from linli import idempotency
from linli.identity import service as identity
from linli.identity.rules import mask_phone
from linli.risk import cases
from linli.schema import Id, Input, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["risk"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)]


class DecisionOut(Output):
    id: int
    rule: str
    subject_kind: str
    subject_id: int
    score: int
    outcome: str
    rule_version: int
    evidence: dict[str, Any]
    created_at: datetime


class SignalOut(Output):
    kind: str  # phone | device | payer | address
    value: str  # a masked prefix of the keyed hash
    rule: str


class HeldOut(Output):
    held: int  # fen moved out of the sharer's available balance by the hold
    frozen: int  # fen frozen, waiting for the case to close
    reasons: list[str]


class CaseOut(Output):
    id: int
    member_id: int
    member_phone: str
    status: str
    level: str
    score: int
    rule_version: int
    opened_at: datetime
    due_at: datetime
    overdue: bool
    closed_at: datetime | None
    outcome: str | None
    reason: str | None
    false_positive: bool
    decided_by: int | None  # the staff member who decided
    amount: int
    decisions: list[DecisionOut]
    signals: list[SignalOut]
    held: HeldOut


class DecideIn(Input):
    outcome: Literal["release", "claw_back", "suspend"]
    reason: str = Field(default="", max_length=cases.REASON_MAX)  # required: the service refuses an empty one (risk.reason_required)
    false_positive: bool = False


def signals_of(view: cases.CaseView) -> list[SignalOut]:
    seen: dict[tuple[str, str], SignalOut] = {}
    for d in view.decisions:
        for item in d.evidence.get("shared", []):
            seen.setdefault((item["kind"], item["value"]), SignalOut(kind=item["kind"], value=item["value"], rule=d.rule))
    return list(seen.values())


def case_out(view: cases.CaseView, phones: dict[int, str]) -> CaseOut:
    c = view.case
    return CaseOut(
        id=c.id, member_id=c.member_id, member_phone=phones.get(c.member_id, "****"), status=c.status, level=c.level, score=c.score, rule_version=c.rule_version,
        opened_at=c.opened_at, due_at=c.due_at, overdue=view.overdue, closed_at=c.closed_at, outcome=c.outcome, reason=c.reason, false_positive=c.false_positive,
        decided_by=c.decided_by, amount=c.amount, decisions=[DecisionOut.model_validate(d) for d in view.decisions], signals=signals_of(view),
        held=HeldOut(held=view.held.held, frozen=view.held.frozen_waiting, reasons=view.held.reasons),
    )


def masked_phones(s, member_ids: list[int]) -> dict[int, str]:
    return {m.id: mask_phone(m.phone) for m in identity.members_by_ids(s, member_ids).values()}


@router.get("/merchants/{mid}/risk/cases", response_model=list[CaseOut], responses=PROBLEMS)
def list_cases(mid: Id, s: DB, who: Who, now: Now, status: Annotated[str | None, Query(max_length=16)] = None) -> list[CaseOut]:
    views = cases.list_cases(s, who, mid, status, now)
    phones = masked_phones(s, [v.case.member_id for v in views])
    return [case_out(v, phones) for v in views]


@router.get("/merchants/{mid}/risk/cases/{cid}", response_model=CaseOut, responses=PROBLEMS)
def get_case(mid: Id, cid: Id, s: DB, who: Who, now: Now) -> CaseOut:
    view = cases.get_case(s, who, mid, cid, now)
    return case_out(view, masked_phones(s, [view.case.member_id]))


@router.post("/merchants/{mid}/risk/cases/{cid}/decide", response_model=CaseOut, responses=PROBLEMS)
def decide(mid: Id, cid: Id, body: DecideIn, response: Response, s: DB, who: Who, now: Now, key: IdemKey = None):
    claim = idempotency.claim(s, f"member:{who.member_id}", f"risk.decide:{mid}:{cid}", key, body.model_dump(mode="json"), now)
    if claim.replay is not None:
        response.status_code = claim.replay_status or 200
        return claim.replay
    view = cases.decide(s, who, mid, cid, body.outcome, body.reason, now, false_positive=body.false_positive)
    out = case_out(view, masked_phones(s, [view.case.member_id]))
    claim.store(s, out.model_dump(mode="json"), 200)
    return out
