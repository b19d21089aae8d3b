"""A merchant's risk rule set, versioned: the version in force (what the evaluation reads on
every paid order), saving a new version, and the history of who changed what.

Who may see and change it: ``Permission.finance``, which the finance role and the owner
both have (platform admins act as owners). The thresholds say how fraud is caught, and the
people who decide on held commission are the ones who tune them; operators and customer
service get 403, someone who is not staff of the merchant 404 (``identity.require_permission``).

Each saved version is complete (every knob of ``rule_set.SPEC``); a knob added to the spec
after a version was saved reads as its default there. Versions count 1, 2, 3… per merchant
(0 is the defaults, never saved); the unique (merchant, version) decides between two
concurrent saves: the one that loses re-reads the latest version, applies its changes on
top of it (re-validated) and takes the next number, so both are kept, one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.db import insert_ignore
from linli.errors import Conflict
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.risk import rule_set
from linli.risk.models import RiskRuleSet
from linli.risk.rule_set import SPEC, RiskRules

ATTEMPTS = 5  # saves racing for the same version number before a 409 risk.rules_conflict
HISTORY_MAX = 100


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Saved:
    """One version with who saved it and when (None for the defaults, version 0), and what
    it changed compared with the version before it (the defaults for version 1)."""

    rules: RiskRules
    created_at: datetime | None
    created_by: int | None
    changes: tuple[Change, ...] = ()

    @property
    def version(self) -> int:
        return self.rules.version


def _values(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {**SPEC.defaults(), **{k: v for k, v in stored.items() if k in SPEC}}


def _latest(s: Session, merchant_id: int) -> RiskRuleSet | None:
    # One query on the unique (merchant_id, version) index.
    return s.scalars(select(RiskRuleSet).where(RiskRuleSet.merchant_id == merchant_id).order_by(RiskRuleSet.version.desc()).limit(1)).first()


def current(s: Session, merchant_id: int) -> RiskRules:
    """The version in force: the latest saved, else the defaults (version 0). No permission
    check: this is what the evaluation of a paid order reads."""
    row = _latest(s, merchant_id)
    return RiskRules(row.version, _values(row.values)) if row else rule_set.defaults()


def get(s: Session, who: Principal, merchant_id: int) -> Saved:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    row = _latest(s, merchant_id)
    if row is None:
        return Saved(rule_set.defaults(), None, None)
    return Saved(RiskRules(row.version, _values(row.values)), row.created_at, row.created_by)


def put(s: Session, who: Principal, merchant_id: int, changes: Mapping[str, Any], now: datetime) -> RiskRules:
    """A new version: the one in force with ``changes`` (any subset of the knobs) applied.
    An unknown knob or a value outside its bounds is refused with ``risk.rules_invalid``
    (``field``, ``lo``/``hi``), thresholds out of order with ``risk.thresholds_order``; a
    refusal writes nothing. Orders evaluated from now on use the new version."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    for _ in range(ATTEMPTS):
        base = current(s, merchant_id)
        rules = rule_set.validate(changes, base=base, version=base.version + 1)
        values = {"merchant_id": merchant_id, "version": rules.version, "values": dict(rules.values), "created_by": who.member_id, "created_at": now}
        # A concurrent save that took this number first: ON CONFLICT waits for it to commit
        # and inserts nothing; the next round reads it (READ COMMITTED) and builds on it.
        if s.execute(insert_ignore(s, RiskRuleSet, values, ["merchant_id", "version"]).returning(RiskRuleSet.id)).scalar() is not None:
            return rules
    raise Conflict("risk.rules_conflict", "The rule set was changed by someone else at the same moment; reload it and save again.")


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """The knobs whose value differs, in the spec's order."""
    return tuple(Change(k, old.get(k), new.get(k)) for k in SPEC.names if old.get(k) != new.get(k))


def history(s: Session, who: Principal, merchant_id: int, limit: int = 20) -> list[Saved]:
    """The saved versions, newest first (at most ``limit``), each with what it changed."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    limit = max(1, min(limit, HISTORY_MAX))
    rows = list(s.scalars(select(RiskRuleSet).where(RiskRuleSet.merchant_id == merchant_id).order_by(RiskRuleSet.version.desc()).limit(limit + 1)))
    values = [_values(r.values) for r in rows]
    out = []
    for i, row in enumerate(rows[:limit]):
        before = values[i + 1] if i + 1 < len(rows) else SPEC.defaults()
        out.append(Saved(RiskRules(row.version, values[i]), row.created_at, row.created_by, diff(before, values[i])))
    return out
