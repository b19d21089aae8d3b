"""Commission use cases: rule sets (versioned), accrual on paid orders (screened by the
``ports.screen`` port), reversal on refunds (clawback into a negative balance once
available), realtime settlement, earnings. Holds, release and claw back: ``holds``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli import ledger
from linli.commission import accounts, holds, ports, rules, settlement
from linli.commission.accounts import COMMISSION_PAYABLE, SHARER_AVAILABLE, SHARER_FROZEN, SHARER_HELD

# Holds (``holds``): other domains (risk, incentives, campaigns) reach them through here.
from linli.commission.holds import HoldView, claw_back, held, hold, hold_view, is_held, release_hold  # noqa: F401
from linli.commission.models import CommissionRecord, OrderRuleVersion, RuleSetVersion
from linli.commission.versions import DEFAULTS, current  # noqa: F401  (importable from here, as before)
from linli.community import service as community
from linli.db import insert_ignore
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.ledger import Leg
from linli.orders.events import OrderPaid, OrderRefunded
from linli.referral import service as referral


@dataclass(frozen=True)
class RuleSetInput:
    levels: int
    rates_bp: list[int]
    leader_rate_bp: int
    cap_bp: int
    self_purchase: bool
    settlement: str
    withdraw_min: int
    withdraw_fee_bp: int
    withdraw_auto_max: int
    overrides: dict[str, dict[str, list[int]]]
    bonus_tiers: list[list[int]]
    bind_mode: str
    protection_days: int
    sharer_mode: str
    spend_threshold: int


def to_rules(v: RuleSetVersion) -> rules.RuleSet:
    o = v.overrides or {}
    return rules.RuleSet(
        levels=v.levels, rates_bp=tuple(v.rates_bp), leader_rate_bp=v.leader_rate_bp, cap_bp=v.cap_bp, self_purchase=v.self_purchase,
        category_rates={k: tuple(r) for k, r in o.get("category", {}).items()},
        product_rates=rules.id_keyed("product", o.get("product", {})),
        campaign_rates=rules.id_keyed("campaign", o.get("campaign", {})),
    )


def put_rules(s: Session, who: Principal, merchant_id: int, inp: RuleSetInput, max_levels: int, now: datetime) -> RuleSetVersion:
    """Validate and store a new version; orders paid from now on use it. A setting outside
    ``rules.SETTINGS`` (or referral's) is refused with its code and nothing is written."""
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    rules.SETTINGS.check({
        "self_purchase": inp.self_purchase, "settlement": inp.settlement,
        "withdraw_min": inp.withdraw_min, "withdraw_fee_bp": inp.withdraw_fee_bp, "withdraw_auto_max": inp.withdraw_auto_max,
    })
    candidate = RuleSetVersion(merchant_id=merchant_id, levels=inp.levels, rates_bp=list(inp.rates_bp), leader_rate_bp=inp.leader_rate_bp, cap_bp=inp.cap_bp, self_purchase=inp.self_purchase, overrides=inp.overrides)
    rs = rules.validate(to_rules(candidate), max_levels)
    tiers = rules.check_tiers(inp.bonus_tiers, rs.cap_bp - max(sum(r) for r in [rs.rates_bp, *rs.category_rates.values(), *rs.product_rates.values(), *rs.campaign_rates.values()]) - rs.leader_rate_bp)
    referral.configure(s, merchant_id, bind_mode=inp.bind_mode, protection_days=inp.protection_days, sharer_mode=inp.sharer_mode, spend_threshold=inp.spend_threshold)
    version = (s.scalar(select(func.max(RuleSetVersion.version)).where(RuleSetVersion.merchant_id == merchant_id)) or 0) + 1
    row = RuleSetVersion(
        merchant_id=merchant_id, version=version, levels=inp.levels, rates_bp=list(inp.rates_bp), leader_rate_bp=inp.leader_rate_bp, cap_bp=inp.cap_bp,
        self_purchase=inp.self_purchase, overrides=inp.overrides, bonus_tiers=tiers, settlement=inp.settlement, withdraw_min=inp.withdraw_min,
        withdraw_fee_bp=inp.withdraw_fee_bp, withdraw_auto_max=inp.withdraw_auto_max, withdraw_daily_count=rules.WITHDRAW_DAILY_COUNT, created_by=who.member_id, created_at=now,
    )
    s.add(row)
    s.flush()
    return row


def get_rules(s: Session, who: Principal, merchant_id: int) -> RuleSetVersion:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return current(s, merchant_id)


# --- accrual and reversal ----------------------------------------------------------------------


def accrue(s: Session, order: OrderPaid, now: datetime) -> list[CommissionRecord]:
    """On ``order.paid``: a frozen record and a ledger transfer per beneficiary per line,
    except for those the ``ports.screen`` verdict excludes. Idempotent: a record is unique
    per (line, beneficiary, level)."""
    merchant_id, buyer = order.merchant_id, order.member_id
    version = current(s, merchant_id)
    s.execute(insert_ignore(s, OrderRuleVersion, {"order_id": order.order_id, "merchant_id": merchant_id, "rule_version": version.version, "recorded_at": now}, ["order_id"]))
    rs = to_rules(version)
    chain = referral.attribution_chain(s, merchant_id, buyer, order.invite_code, rs.levels, rs.self_purchase)
    beneficiaries = [(m, lvl) for m, lvl in rules.chain_beneficiaries(chain, rs.levels) if m != buyer or rs.self_purchase]
    # The leader's share: the leader whose code for this order's campaign it came through,
    # else the leader of the community the order is picked up in or delivered to.
    leader = referral.campaign_leader(s, merchant_id, order.invite_code, order.campaign_id)
    if leader is None and order.community_id:
        leader = community.public_community(s, order.community_id).leader_member_id
    if leader == buyer and not rs.self_purchase:
        leader = None
    if leader is not None and leader not in referral.active_sharers(s, merchant_id, [leader]):
        leader = None  # a suspended leader earns nothing new
    verdict = ports.screen.get().screen(s, order, list(beneficiaries), leader, now)
    beneficiaries = [(m, lvl) for m, lvl in beneficiaries if m not in verdict.excluded]  # the others keep their levels
    if verdict.leader_excluded or leader in verdict.excluded:
        leader = None
    made = []
    for line in order.lines:
        rates = rules.rates_for(rs, category=line.category, product_id=line.product_id, campaign_id=order.campaign_id)
        for share in rules.line_shares(line.paid, rates, beneficiaries, leader, rs.leader_rate_bp):
            if share.amount <= 0:
                continue
            exists = s.scalars(select(CommissionRecord.id).where(CommissionRecord.line_id == line.line_id, CommissionRecord.member_id == share.member_id, CommissionRecord.level == share.level, CommissionRecord.kind == "accrual")).first()
            if exists:
                continue
            rec = CommissionRecord(
                merchant_id=merchant_id, order_id=order.order_id, line_id=line.line_id, member_id=share.member_id, level=share.level, kind="accrual", source="accrual",
                rate_bp=share.rate_bp, base=line.paid, amount=share.amount, state="frozen", rule_version=version.version, created_at=now,
            )
            s.add(rec)
            s.flush()
            ledger.transfer(s, merchant_id, "accrual", f"accrual:{rec.id}", [Leg(COMMISSION_PAYABLE, None, -rec.amount), Leg(SHARER_FROZEN, rec.member_id, rec.amount)], now)
            made.append(rec)
    return made


def on_refund(s: Session, order: OrderRefunded, now: datetime) -> int:
    """On ``order.refunded``: recompute what each beneficiary is owed on each affected
    line, floor(rate × (base − refunded)), and take the difference back — from frozen
    parts first, then held ones (reversals), then available parts (clawback), and what is
    left of it (the money was already withdrawn) as a negative available record, which may
    drive the balance below zero and then blocks withdrawal. Returns the fen taken back."""
    refund = order.refund
    prefix = f"refund:{refund.case_id}"
    refunded_by_line = {ln.line_id: ln.refunded for ln in order.lines}
    touched = {ln.line_id for ln in refund.lines} or set(refunded_by_line)
    q = select(CommissionRecord).where(CommissionRecord.line_id.in_(touched), CommissionRecord.state != "cancelled").order_by(CommissionRecord.id)
    rows = s.scalars(q).all()
    # The beneficiaries' balance rows first (the lock a withdrawal, hold or release takes
    # first), then the records again: a hold or release running meanwhile cannot move a
    # record between the read and the reversal.
    accounts.lock_balances(s, {(r.merchant_id, r.member_id) for r in rows})
    rows = s.scalars(q.execution_options(populate_existing=True)).all()
    groups: dict[tuple[int, int, int], list[CommissionRecord]] = {}
    for rec in rows:
        groups.setdefault((rec.line_id, rec.member_id, rec.level), []).append(rec)
    order_of = {"frozen": 0, "held": 1, "available": 2, "withdrawn": 3}
    reversed_from = {"frozen": SHARER_FROZEN, "held": SHARER_HELD}
    total = 0
    for (line_id, member_id, level), recs in groups.items():
        first = recs[0]
        target = rules.after_refund(rules.Share(member_id, level, first.rate_bp, 0), first.base, refunded_by_line.get(line_id, 0))
        remaining = sum(r.amount for r in recs) - target
        if remaining <= 0:
            continue
        for rec in sorted(recs, key=lambda r: (order_of[r.state], r.id)):
            if remaining <= 0 or rec.state == "withdrawn" or rec.amount <= 0:
                continue
            take = min(remaining, rec.amount)
            account, kind = (reversed_from[rec.state], "reversal") if rec.state in reversed_from else (SHARER_AVAILABLE, "clawback")
            remaining -= take
            if not ledger.transfer(s, rec.merchant_id, kind, f"{prefix}:{rec.id}", [Leg(account, member_id, -take), Leg(COMMISSION_PAYABLE, None, take)], now):
                continue  # already taken by an earlier delivery of this event
            rec.amount -= take
            if rec.amount == 0 and rec.state in reversed_from:
                rec.state = "cancelled"
            total += take
        if remaining > 0:
            key = f"{prefix}:claw:{line_id}:{member_id}:{level}"
            if ledger.transfer(s, first.merchant_id, "clawback", key, [Leg(SHARER_AVAILABLE, member_id, -remaining), Leg(COMMISSION_PAYABLE, None, remaining)], now):
                s.add(CommissionRecord(
                    merchant_id=first.merchant_id, order_id=first.order_id, line_id=line_id, member_id=member_id, level=level, kind="clawback", source=key[-64:],
                    rate_bp=first.rate_bp, base=first.base, amount=-remaining, state="available", rule_version=first.rule_version, created_at=now,
                ))
                total += remaining
        s.flush()
    return total


def settle_order(s: Session, order_id: int, now: datetime) -> int:
    """Realtime settlement of one completed order: its frozen records become available,
    except those of held sharers (they wait, frozen and queued, for the hold to end:
    ``holds.release_hold`` settles them). Compare-and-set per record: each moves once."""
    recs = s.scalars(select(CommissionRecord).where(CommissionRecord.order_id == order_id, CommissionRecord.state == "frozen").order_by(CommissionRecord.id)).all()
    # The beneficiaries' balance rows first (the lock a hold takes before it moves money), then
    # who is held: a hold committing meanwhile is either seen here or comes after and holds
    # what this settles — never a record made available to a sharer already held.
    accounts.lock_balances(s, {(r.merchant_id, r.member_id) for r in recs})
    on_hold = held(s, recs[0].merchant_id) if recs else set()
    for rec in recs:
        if rec.member_id in on_hold:
            settlement.queue_record(s, rec.id, now)
    moved, _ = settlement.settle_records(s, [rec.id for rec in recs if rec.member_id not in on_hold], now)
    return moved


# --- earnings --------------------------------------------------------------------------------


@dataclass
class Earnings:
    frozen: int
    available: int
    withdrawn: int
    records: list[CommissionRecord]
    held: int = 0  # out of reach of withdrawal while a hold lasts
    hold: str | None = None  # why, for the sharer: "review" (a risk case), "suspended", or None


def hold_kind(reasons: list[str]) -> str | None:
    """What the sharer is told of their holds: a suspension, else a review (risk cases)."""
    if holds.SUSPENDED in reasons:
        return "suspended"
    return "review" if reasons else None


def earnings(s: Session, member_id: int, merchant_id: int, limit: int = 200) -> Earnings:
    b = accounts.balance(s, merchant_id, member_id)
    recs = list(s.scalars(select(CommissionRecord).where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.member_id == member_id).order_by(CommissionRecord.id.desc()).limit(limit)))
    withdrawn = s.scalar(select(func.coalesce(func.sum(CommissionRecord.amount), 0)).where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.member_id == member_id, CommissionRecord.state == "withdrawn"))
    kind = hold_kind(holds.reasons_of(s, merchant_id, member_id))
    return Earnings(b.frozen if b else 0, b.available if b else 0, int(withdrawn or 0), recs, held=int(b.held) if b else 0, hold=kind)


def commission_on_orders(s: Session, merchant_id: int, member_id: int, order_ids: list[int]) -> int:
    """What ``member_id`` is owed on these orders now (fen): their records on them, net of
    refund reversals and clawbacks, whatever state the money is in. An estimate until the
    orders' after-sales windows close (a later refund takes its share back)."""
    total = 0
    for i in range(0, len(order_ids), 500):
        total += int(s.scalar(
            select(func.coalesce(func.sum(CommissionRecord.amount), 0))
            .where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.member_id == member_id, CommissionRecord.order_id.in_(order_ids[i:i + 500]), CommissionRecord.state != "cancelled")
        ) or 0)
    return total


def rule_version_of(s: Session, order_id: int) -> int | None:
    """The rule-set version recorded when the order was paid (None if it was never paid)."""
    return s.scalar(select(OrderRuleVersion.rule_version).where(OrderRuleVersion.order_id == order_id))
