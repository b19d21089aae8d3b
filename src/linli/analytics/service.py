"""Keeping the rollups: restating an order on each of its events, and a member's arrival
(bound through a link, or choosing a community). One transaction each (the handler's).

Locks, so concurrent handlers never lose an update: the merchant's analytics row is taken
shared (a rebuild takes it exclusively, so no restatement lands between its read and its
write), then the buyer's member row (two orders of one buyer take turns over their firsts),
then the order's fact row; rollup rows change by ``x = x + delta`` upserts in key order.
SQLite runs one writer at a time and needs none of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from linli.analytics import rules
from linli.analytics.models import AnalyticsCodeDay, AnalyticsDay, AnalyticsFunnelDay, AnalyticsMember, AnalyticsMemberDay, AnalyticsMerchant, AnalyticsOrder
from linli.analytics.rules import NONE, OrderFact
from linli.community import service as community
from linli.db import insert_ignore
from linli.orders import service as orders
from linli.referral import rules as referral_rules
from linli.referral import service as referral

_DAY_KEY = ("merchant_id", "day", "community_id", "leader_id", "sharer_id", "campaign_id")
_MEMBER_KEY = ("merchant_id", "member_id", "day")


# --- facts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    sharer: int  # level 1 of the order's attribution (never the buyer), NONE if nobody
    leader: int
    attributed: bool  # another member brought it (a sharer, or a leader's campaign code)
    via_code: bool  # through the sharer's own code, not only their binding


def attribution(s: Session, order: orders.PaidOrder) -> Attribution:
    """Who brought an order as it is paid: the sharer is level 1 of its attribution (the code
    it came with, else the buyer's binding; never the buyer), the leader the one whose
    campaign code it came through, else its community's."""
    chain = referral.attribution_chain(s, order.merchant_id, order.member_id, order.invite_code, 1, False)
    sharer = chain[0].member_id if chain and chain[0].member_id != order.member_id else NONE
    code = referral_rules.normalise_code(order.invite_code)
    via_code = bool(sharer and code and referral.personal_code_owners(s, order.merchant_id, [code]).get(code) == sharer)
    code_leader = referral.campaign_leader(s, order.merchant_id, order.invite_code, order.campaign_id)
    if code_leader == order.member_id:
        code_leader = None
    leader = code_leader
    if leader is None and order.community_id:
        leader = community.public_community(s, order.community_id).leader_member_id
    return Attribution(sharer, leader or NONE, bool(sharer or code_leader), via_code)


def recorded(row: AnalyticsOrder) -> Attribution:
    return Attribution(row.sharer_id, row.leader_id, row.attributed, row.via_code)


def _refunds_text(refunds: Iterable[tuple[date, int, bool]]) -> str:
    return ";".join(f"{d.isoformat()}:{a}{':s' if by_system else ''}" for d, a, by_system in refunds)


def _refunds_of(text: str) -> tuple[tuple[date, int, bool], ...]:
    out = []
    for part in filter(None, text.split(";")):
        day, amount, *system = part.split(":")
        out.append((date.fromisoformat(day), int(amount), bool(system)))
    return tuple(out)


def fact_of(order: orders.PaidOrder, who: Attribution) -> OrderFact:
    return OrderFact(
        order.merchant_id, order.order_id, order.member_id, order.community_id or NONE, who.leader, who.sharer, order.campaign_id or NONE, who.attributed,
        rules.local_day(order.paid_at), order.total_paid, rules.local_day(order.received_at) if order.received_at else None,
        tuple((rules.local_day(at), amount, by_system) for at, amount, by_system in order.refunds), who.via_code,
    )


def stored_fact(row: AnalyticsOrder) -> OrderFact:
    return OrderFact(row.merchant_id, row.order_id, row.member_id, row.community_id, row.leader_id, row.sharer_id, row.campaign_id, row.attributed,
                     row.paid_day, row.paid, row.received_day, _refunds_of(row.refunds), row.via_code)


def fact_values(f: OrderFact) -> dict:
    return {"order_id": f.order_id, "merchant_id": f.merchant_id, "member_id": f.member_id, "community_id": f.community_id, "leader_id": f.leader_id,
            "sharer_id": f.sharer_id, "campaign_id": f.campaign_id, "attributed": f.attributed, "paid_day": f.paid_day, "paid": f.paid,
            "received_day": f.received_day, "refunds": _refunds_text(f.refunds), "via_code": f.via_code}


# --- rollup rows -------------------------------------------------------------------------


def _upsert(s: Session, model, key_names: tuple[str, ...], key: tuple, sums: dict[str, int]) -> None:
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model).values(**dict(zip(key_names, key)), **sums)
    table = model.__table__
    s.execute(stmt.on_conflict_do_update(index_elements=list(key_names), set_={n: table.c[n] + stmt.excluded[n] for n in sums}))


def apply(s: Session, days: dict, members: dict) -> None:
    """Add these differences to the rollups, in key order (the lock order)."""
    for key in sorted(days):
        _upsert(s, AnalyticsDay, _DAY_KEY, key, days[key])
    for key in sorted(members):
        _upsert(s, AnalyticsMemberDay, _MEMBER_KEY, key, members[key])


def _share_merchant(s: Session, merchant_id: int) -> None:
    s.execute(insert_ignore(s, AnalyticsMerchant, {"merchant_id": merchant_id}, ["merchant_id"]))
    s.execute(select(AnalyticsMerchant.merchant_id).where(AnalyticsMerchant.merchant_id == merchant_id).with_for_update(read=True))


def _member_row(s: Session, merchant_id: int, member_id: int) -> AnalyticsMember:
    s.execute(insert_ignore(s, AnalyticsMember, {"merchant_id": merchant_id, "member_id": member_id}, ["merchant_id", "member_id"]))
    q = select(AnalyticsMember).where(AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.member_id == member_id)
    return s.scalars(q.with_for_update().execution_options(populate_existing=True)).one()


def set_firsts(m: AnalyticsMember, f: rules.Firsts) -> None:
    m.first_day, m.first_received_day, m.first_received_attributed = f.first_day, f.first_received_day, f.first_received_attributed
    m.joined_day = rules.joined_day(m.arrived_day, m.first_day)
    if not m.community_id:
        m.community_id = f.first_community


def refresh_firsts(s: Session, m: AnalyticsMember) -> None:
    """A member's firsts from their orders' facts as they stand now."""
    rows = s.scalars(select(AnalyticsOrder).where(AnalyticsOrder.merchant_id == m.merchant_id, AnalyticsOrder.member_id == m.member_id, AnalyticsOrder.counted.is_(True)))
    set_firsts(m, rules.Firsts(stored_fact(r) for r in rows))


# --- use cases (handlers) ----------------------------------------------------------------


def restate_order(s: Session, order_id: int) -> None:
    """Count the order as it is now: what its previous facts put in the rollups is taken
    back, what its facts are now is put in. Unpaid orders count for nothing. The locks come
    before the order is read (its merchant and buyer never change), so of two restatements
    of one order the later one reads what the earlier one committed."""
    buyer = orders.buyer_of(s, order_id)
    if buyer is None:
        return
    _share_merchant(s, buyer.merchant_id)
    member = _member_row(s, buyer.merchant_id, buyer.member_id)
    row = s.get(AnalyticsOrder, order_id, with_for_update=True, populate_existing=True)
    order = orders.paid_order(s, order_id)
    if order is None:
        return
    if row is None:
        s.execute(insert_ignore(s, AnalyticsOrder, {**fact_values(fact_of(order, attribution(s, order))), "counted": False}, ["order_id"]))
        row = s.get(AnalyticsOrder, order_id, with_for_update=True, populate_existing=True)
    new = fact_of(order, recorded(row))  # who brought it stays as first recorded
    old = stored_fact(row) if row.counted else None
    days = rules.difference(rules.day_rows(old) if old else {}, rules.day_rows(new))
    members = rules.difference(rules.member_rows(old) if old else {}, rules.member_rows(new))
    if row.counted and not days and not members:
        return
    apply(s, days, members)
    s.execute(update(AnalyticsOrder).where(AnalyticsOrder.order_id == order_id).values(**fact_values(new), counted=True))
    s.flush()
    refresh_firsts(s, member)


def member_arrived(s: Session, merchant_id: int, member_id: int, at: datetime, *, inviter_id: int | None = None, community_id: int | None = None) -> None:
    """A member was bound through a merchant's link (``inviter_id``) or chose one of its
    communities (``community_id``). The first arrival is when they joined, unless they had
    already paid an order there; a member bound as new counts as an invite of the inviter."""
    _share_merchant(s, merchant_id)
    m = _member_row(s, merchant_id, member_id)
    day = rules.local_day(at)
    if inviter_id and not m.inviter_id:
        m.inviter_id = inviter_id
        if m.first_day is None or m.first_day >= day:  # new: no order here before that day
            _upsert(s, AnalyticsCodeDay, ("merchant_id", "sharer_id", "day"), (merchant_id, inviter_id, day), {"invites": 1})
    if community_id and not m.community_id:
        m.community_id = community_id
    if m.arrived_day is None or day < m.arrived_day:
        m.arrived_day = day
    m.joined_day = rules.joined_day(m.arrived_day, m.first_day)


# --- the funnel's first stages -------------------------------------------------------------

_FUNNEL_KEY = ("merchant_id", "day", "sharer_id", "campaign_id")


def count_funnel(s: Session, merchant_id: int, sharer_id: int, campaign_id: int | None, at: datetime, stage: str) -> None:
    """One more share, visit or placed order of ``sharer_id`` that day (an event's, once)."""
    _upsert(s, AnalyticsFunnelDay, _FUNNEL_KEY, (merchant_id, rules.local_day(at), sharer_id, campaign_id or NONE), {stage: 1})


def order_placed(s: Session, merchant_id: int, buyer_id: int, invite_code: str | None, campaign_id: int | None, at: datetime) -> None:
    """An order was placed: a stage of the funnel of the sharer it would pay (level 1 of its
    attribution now: the code it came with, else the buyer's binding)."""
    chain = referral.attribution_chain(s, merchant_id, buyer_id, invite_code, 1, False)
    if chain and chain[0].member_id != buyer_id:
        count_funnel(s, merchant_id, chain[0].member_id, campaign_id, at, "placed")
