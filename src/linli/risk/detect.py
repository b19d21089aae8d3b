"""The sharer rules, counted from risk's own rows (signals and attributions) and decided by
the pure rules: cluster (on a binding and on a paid order), velocity and new accounts buying
only through one sharer (on a paid order), refund rate (on a refund). Each finding is
recorded through ``cases.record`` with the rule set in force."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from linli.risk import cases, rules, signals
from linli.risk.models import RiskAttribution, RiskSignal
from linli.risk.rule_set import CLUSTER, REFUND_RATE, REVIEW, SELF_REFERRAL, SINGLE_SHARER, VELOCITY, RiskRules


def shared_evidence(shared: dict[str, frozenset[str]]) -> list[dict[str, str]]:
    return [{"kind": kind, "value": rules.mask(min(values))} for kind, values in sorted(shared.items())]


def binding(s: Session, rs: RiskRules, merchant_id: int, invitee_id: int, inviter_id: int, event_id: int, now: datetime) -> None:
    """A binding between two accounts that share a phone, device, payer account or address
    is flagged: a finding on the inviter's case at review (their orders through it are then
    refused one by one at payment, at the rule's own score)."""
    if rs.on(SELF_REFERRAL):
        shared = rules.shared_signals(signals.signal_set(s, invitee_id, merchant_id), signals.signal_set(s, inviter_id, merchant_id))
        if shared:
            evidence = {"shared": shared_evidence(shared), "invitee_id": invitee_id}
            cases.record(s, rs, merchant_id, inviter_id, rules.BINDING, event_id, SELF_REFERRAL, now, evidence=evidence, outcome=REVIEW, score=min(rs.score(SELF_REFERRAL), rs["review_at"]))
    cluster(s, rs, merchant_id, inviter_id, invitee_id, rules.BINDING, event_id, now)


def cluster(s: Session, rs: RiskRules, merchant_id: int, sharer_id: int, member_id: int, subject_kind: str, subject_id: int, now: datetime) -> None:
    """≥ ``cluster_min_members`` members — the sharer and those bound to them in the window —
    seen on one device or at one delivery address in the window, judged around the member
    who just arrived (the invitee of a binding, the buyer of an order): only the devices and
    addresses they used are looked up, so the cost does not grow with the sharer's team."""
    if not rs.on(CLUSTER):
        return
    since = now - timedelta(days=rs["cluster_days"])
    scope = (RiskSignal.merchant_id == merchant_id) | RiskSignal.merchant_id.is_(None)
    mine = s.execute(select(RiskSignal.device_hash, RiskSignal.address_hash).where(RiskSignal.member_id == member_id, RiskSignal.seen_at >= since, scope)).all()
    devices, addresses = {d for d, _ in mine if d}, {a for _, a in mine if a}
    if not devices and not addresses:
        return
    near = [RiskSignal.device_hash.in_(devices)] if devices else []
    near += [RiskSignal.address_hash.in_(addresses)] if addresses else []
    rows = s.execute(select(RiskSignal.member_id, RiskSignal.device_hash, RiskSignal.address_hash).where(or_(*near), RiskSignal.seen_at >= since, scope)).all()
    others = {m for m, _, _ in rows} - {sharer_id}
    if len(others) + 1 < rs["cluster_min_members"]:
        return
    bound = set(s.scalars(select(RiskSignal.member_id).where(
        RiskSignal.merchant_id == merchant_id, RiskSignal.subject_kind == rules.BINDING, RiskSignal.related_member_id == sharer_id,
        RiskSignal.seen_at >= since, RiskSignal.member_id.in_(others),
    ))) | {sharer_id}
    seen: dict[tuple[str, str], set[int]] = {}
    for member, device, address in rows:
        if member not in bound:
            continue
        if device in devices:
            seen.setdefault(("device", device), set()).add(member)
        if address in addresses:
            seen.setdefault(("address", address), set()).add(member)
    found = rules.clusters(seen, rs["cluster_min_members"])
    if found:
        evidence = {"shared": [{"kind": kind, "value": rules.mask(value), "members": list(ms)} for kind, value, ms in found]}
        cases.record(s, rs, merchant_id, sharer_id, subject_kind, subject_id, CLUSTER, now, evidence=evidence)


def on_paid(s: Session, rs: RiskRules, merchant_id: int, sharer_id: int, buyer_id: int, bound_at: datetime | None, order_id: int, now: datetime) -> None:
    """The sharer's rules on one paid order they brought. Velocity and single sharer count
    new members only (bound to the sharer within each rule's window), so an order of a
    long-standing customer costs only the cluster check."""
    cluster(s, rs, merchant_id, sharer_id, buyer_id, rules.ORDER, order_id, now)
    if bound_at is None:
        return
    if rs.on(VELOCITY) and now - bound_at < timedelta(days=rs["velocity_new_days"]):
        new_since = now - timedelta(days=rs["velocity_new_days"])
        times = list(s.scalars(select(RiskAttribution.paid_at).where(
            RiskAttribution.merchant_id == merchant_id, RiskAttribution.sharer_id == sharer_id, RiskAttribution.bound_at > new_since, RiskAttribution.paid_at > now - timedelta(days=1),
        )))
        over = rules.over_velocity(times, now, rs["velocity_per_hour"], rs["velocity_per_day"])
        if over:
            evidence = {"last_hour": over[0], "last_day": over[1], "per_hour": rs["velocity_per_hour"], "per_day": rs["velocity_per_day"]}
            cases.record(s, rs, merchant_id, sharer_id, rules.ORDER, order_id, VELOCITY, now, evidence=evidence)
    if not rs.on(SINGLE_SHARER) or now - bound_at >= timedelta(days=rs["single_sharer_days"]):
        return
    earlier = s.scalars(select(RiskAttribution.order_id).where(
        RiskAttribution.merchant_id == merchant_id, RiskAttribution.buyer_id == buyer_id, RiskAttribution.sharer_id == sharer_id, RiskAttribution.order_id != order_id,
    ).limit(1)).first()
    if earlier is None:  # a new account joins the sharer's buyers: count again
        _single_sharer(s, rs, merchant_id, sharer_id, order_id, now)


def _single_sharer(s: Session, rs: RiskRules, merchant_id: int, sharer_id: int, order_id: int, now: datetime) -> None:
    since = now - timedelta(days=rs["single_sharer_days"])
    window = (RiskAttribution.merchant_id == merchant_id, RiskAttribution.sharer_id == sharer_id, RiskAttribution.paid_at >= since)
    old = (RiskAttribution.bound_at.is_(None)) | (RiskAttribution.bound_at <= since)
    if s.scalars(select(RiskAttribution.order_id).where(*window, old).limit(1)).first() is not None:
        return  # a long-standing customer among the sharer's buyers: not "only new accounts"
    mine = list(s.scalars(select(RiskAttribution.buyer_id).where(*window).group_by(RiskAttribution.buyer_id)))
    if len(mine) < rs["single_sharer_min_accounts"]:
        return
    through: dict[int, set[int | None]] = {b: set() for b in mine}
    for buyer, sharer in s.execute(select(RiskAttribution.buyer_id, RiskAttribution.sharer_id).where(
        RiskAttribution.merchant_id == merchant_id, RiskAttribution.buyer_id.in_(mine), RiskAttribution.paid_at >= since,
    )):
        through[buyer].add(sharer)
    buyers = {b: (True, frozenset(through[b])) for b in mine}  # every one new: the check above
    if rules.only_through(sharer_id, buyers, rs["single_sharer_min_accounts"]):
        cases.record(s, rs, merchant_id, sharer_id, rules.ORDER, order_id, SINGLE_SHARER, now, evidence={"accounts": len(buyers)})


def on_refund(s: Session, rs: RiskRules, merchant_id: int, order_id: int, now: datetime) -> None:
    """Mark the order refunded (once) and judge its sharer's refund rate."""
    a = s.get(RiskAttribution, order_id)
    if a is None or a.sharer_id is None:
        return
    if a.refunded_at is None:
        a.refunded_at = now
        s.flush()
    if not rs.on(REFUND_RATE):
        return
    since = now - timedelta(days=rs["refund_rate_days"])
    orders, refunded = s.execute(select(func.count(), func.count(RiskAttribution.refunded_at)).where(
        RiskAttribution.merchant_id == merchant_id, RiskAttribution.sharer_id == a.sharer_id, RiskAttribution.paid_at >= since,
    )).one()
    if rules.over_refund_rate(orders, refunded, rs["refund_rate_min_orders"], rs["refund_rate_max_bp"]):
        evidence = {"orders": orders, "refunded": refunded, "rate_bp": rules.refund_rate_bp(orders, refunded), "max_bp": rs["refund_rate_max_bp"]}
        cases.record(s, rs, merchant_id, a.sharer_id, rules.ORDER, order_id, REFUND_RATE, now, evidence=evidence)
