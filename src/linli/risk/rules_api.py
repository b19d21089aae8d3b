"""Risk rule-set endpoints: the version in force, a new version (partial, with
``Idempotency-Key``), and the history of versions. Finance staff and the owner only (see
``rulesets``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Response

from linli import idempotency
from linli.identity import service as identity
from linli.risk import rulesets
from linli.risk.schemas import RiskRuleChangeOut, RiskRulesIn, RiskRulesOut, RiskRulesVersionOut
from linli.schema import Id
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["risk"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)]


def _out(mid: int, saved: rulesets.Saved) -> RiskRulesOut:
    return RiskRulesOut(merchant_id=mid, version=saved.version, values=dict(saved.rules.values), created_at=saved.created_at, created_by=saved.created_by)


@router.get("/merchants/{mid}/risk/rules", response_model=RiskRulesOut, responses=PROBLEMS)
def get_rules(mid: Id, s: DB, who: Who) -> RiskRulesOut:
    """The version in force (version 0: the defaults, never saved)."""
    return _out(mid, rulesets.get(s, who, mid))


@router.put("/merchants/{mid}/risk/rules", response_model=RiskRulesOut, responses=PROBLEMS)
def put_rules(mid: Id, body: RiskRulesIn, response: Response, s: DB, who: Who, now: Now, key: IdemKey = None):  # type: ignore[valid-type]
    """A new version: the one in force with the knobs given changed. Refused with
    ``risk.rules_invalid`` (``field``) for an unknown knob or a value outside its bounds,
    ``risk.thresholds_order`` unless review_at ≤ hold_at < block_at; nothing is saved then."""
    changes = body.model_dump(exclude_unset=True)
    claim = idempotency.claim(s, f"member:{who.member_id}", f"risk.rules:{mid}", key, changes, now)
    if claim.replay is not None:
        response.status_code = claim.replay_status or 200
        return claim.replay
    rules = rulesets.put(s, who, mid, changes, now)
    out = _out(mid, rulesets.Saved(rules, now, who.member_id))
    claim.store(s, out.model_dump(mode="json"), 200)
    return out


@router.get("/merchants/{mid}/risk/rules/history", response_model=list[RiskRulesVersionOut], responses=PROBLEMS)
def rules_history(mid: Id, s: DB, who: Who, limit: Annotated[int, Query(ge=1, le=rulesets.HISTORY_MAX)] = 20) -> list[RiskRulesVersionOut]:
    """The saved versions, newest first, each with who saved it and what it changed."""
    versions = rulesets.history(s, who, mid, limit)
    people = identity.members_by_ids(s, list({v.created_by for v in versions if v.created_by}))
    return [
        RiskRulesVersionOut(
            version=v.version, created_at=v.created_at, created_by=v.created_by, created_by_nickname=people[v.created_by].nickname if v.created_by in people else None,
            changes=[RiskRuleChangeOut(field=c.field, old=c.old, new=c.new) for c in v.changes],
        )
        for v in versions
    ]
