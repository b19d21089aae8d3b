"""Risk's screen of a paid order, called by commission before it credits anyone
(``commission.ports.screen``, filled in ``risk.domain.wire``), in commission's transaction:

- it records who the order's commission goes to (``RiskAttribution``) and the payer and
  delivery signals the order carries;
- self-referral: a beneficiary (a chain sharer or the leader) who shares a phone, device,
  payer account or delivery address with the buyer earns nothing on the order — a finding
  on their case;
- 跨区引流: when the pickup point or delivery address lies more than ``cross_area_distance_m``
  from every community the leader leads, the leader earns nothing on the order (shown on the
  order's console page);
- then the level-1 sharer's rules (cluster, velocity, single sharer) are judged.

Idempotent: a redelivered ``order.paid`` finds its findings recorded and returns the same
verdict from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli.commission.ports import Verdict
from linli.community import service as community
from linli.db import insert_ignore
from linli.identity import service as identity
from linli.orders import service as orders
from linli.orders.events import OrderPaid
from linli.referral import service as referral
from linli.risk import cases, detect, rules, rulesets, signals
from linli.risk.models import RiskAttribution
from linli.risk.rule_set import CROSS_AREA, SELF_REFERRAL, RiskRules


class RiskScreen:
    def screen(self, s: Session, order: OrderPaid, beneficiaries: list[tuple[int, int]], leader: int | None, now: datetime) -> Verdict:
        rs = rulesets.current(s, order.merchant_id)
        sharer = next((m for m, level in beneficiaries if level == 1), None)
        bound_at = _attribute(s, rs, order, sharer, leader, now)
        buyer = orders.buyer_of(s, order.order_id)
        phone = rules.recipient_phone(buyer.address if buyer else None) or identity.get_member(s, order.member_id).phone
        signals.record(s, rules.ORDER, order.order_id, order.member_id, now, merchant_id=order.merchant_id, phone=phone, address=buyer.address if buyer else None, payer_hash=order.payer)
        excluded = _self_referrals(s, rs, order, {m for m, _ in beneficiaries} | ({leader} if leader else set()), now)
        leader_out = leader is not None and (leader in excluded or _cross_area(s, rs, order, leader, buyer.address if buyer else None, now))
        if sharer is not None and sharer not in excluded:
            detect.on_paid(s, rs, order.merchant_id, sharer, order.member_id, bound_at, order.order_id, now)
        return Verdict(excluded=frozenset(m for m, _ in beneficiaries if m in excluded), leader_excluded=leader_out)


def _attribute(s: Session, rs: RiskRules, order: OrderPaid, sharer: int | None, leader: int | None, now: datetime) -> datetime | None:
    """Record who the order's commission goes to, and since when its buyer has been bound to
    that sharer (None: bound to someone else, or to no one) — what makes them a new member
    of the sharer's for the velocity and single-sharer rules, each with its own window."""
    bound_at = None
    if sharer is not None:
        bound = referral.binding_of(s, order.merchant_id, order.member_id)
        bound_at = bound[1] if bound is not None and bound[0] == sharer else None
    s.execute(insert_ignore(s, RiskAttribution, {
        "order_id": order.order_id, "merchant_id": order.merchant_id, "buyer_id": order.member_id, "sharer_id": sharer, "leader_id": leader, "bound_at": bound_at, "paid_at": now,
    }, ["order_id"]))
    return bound_at


def _self_referrals(s: Session, rs: RiskRules, order: OrderPaid, members: set[int], now: datetime) -> set[int]:
    """The beneficiaries who share a signal with the buyer (recorded on this order before:
    the same set again)."""
    found = {d.member_id for d in cases.decisions_on(s, order.merchant_id, rules.ORDER, order.order_id) if d.rule == SELF_REFERRAL}
    if not rs.on(SELF_REFERRAL):
        return found
    mine = signals.signal_set(s, order.member_id, order.merchant_id)
    for member in sorted(members - found - {order.member_id}):
        if cases.snoozed(s, order.merchant_id, member, SELF_REFERRAL, now):
            continue
        shared = rules.shared_signals(mine, signals.signal_set(s, member, order.merchant_id))
        if not shared:
            continue
        evidence = {"shared": detect.shared_evidence(shared), "buyer_id": order.member_id}
        cases.record(s, rs, order.merchant_id, member, rules.ORDER, order.order_id, SELF_REFERRAL, now, evidence=evidence, outcome="block")
        found.add(member)
    return found


def _cross_area(s: Session, rs: RiskRules, order: OrderPaid, leader: int, address: dict | None, now: datetime) -> bool:
    if any(d.rule == CROSS_AREA for d in cases.decisions_on(s, order.merchant_id, rules.ORDER, order.order_id)):
        return True
    if not rs.on(CROSS_AREA):
        return False
    if order.pickup_point_id is not None:
        point = community.get_pickup_point(s, order.pickup_point_id)
        lat, lng = point.lat, point.lng
    elif address and isinstance(address.get("lat"), int | float) and isinstance(address.get("lng"), int | float):
        lat, lng = address["lat"], address["lng"]
    else:
        return False
    distance = community.distance_from_led(s, leader, order.merchant_id, lat, lng)
    if not rules.cross_area(distance, rs["cross_area_distance_m"]):
        return False
    evidence = {"distance_m": distance, "limit_m": rs["cross_area_distance_m"], "fulfilment": "pickup" if order.pickup_point_id else "delivery"}
    return cases.record(s, rs, order.merchant_id, leader, rules.ORDER, order.order_id, CROSS_AREA, now, evidence=evidence, outcome="block") is not None
