"""Orders as the campaigns domain reads them: counts, sales, units and order references by
campaign, team or order id, returned as plain values and frozen views (never ORM rows), so
campaigns never read orders' tables. Every query is set-based; lists come in pages of at
most ``CHUNK`` rows and id lists are looked up ``CHUNK`` at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.orders.models import Order, OrderLine

CHUNK = 500


@dataclass(frozen=True)
class OrderRef:
    """What a campaign needs to know about one of its orders."""

    order_id: int
    status: str
    campaign_id: int | None
    team_id: int | None
    community_id: int | None
    paid_at: datetime | None


@dataclass(frozen=True)
class Sales:
    orders: int
    gmv: int  # Σ (paid − refunded), fen


@dataclass(frozen=True)
class CodeSales:
    code: str
    orders: int
    gmv: int


@dataclass(frozen=True)
class BuyerCodeSales:
    """What one buyer's orders through one invite code brought into a campaign."""

    code: str
    buyer_id: int
    orders: int
    gmv: int  # Σ (paid − refunded), fen
    last_paid_at: datetime | None


@dataclass(frozen=True)
class SkuUnits:
    sku_id: int
    product_name: str
    sku_name: str
    qty: int
    orders: int


_REF_COLUMNS = (Order.id, Order.status, Order.campaign_id, Order.team_id, Order.community_id, Order.paid_at)
_NET = func.coalesce(func.sum(Order.total_paid - Order.refunded), 0)


def _ref(row) -> OrderRef:
    return OrderRef(row[0], row[1], row[2], row[3], row[4], row[5])


def _statuses(statuses: Iterable[str]) -> list[str]:
    return [str(x) for x in statuses]


def count_campaign_orders(s: Session, campaign_id: int, statuses: Iterable[str] | None = None) -> int:
    """The campaign's orders (in ``statuses`` when given)."""
    q = select(func.count()).select_from(Order).where(Order.campaign_id == campaign_id)
    if statuses is not None:
        q = q.where(Order.status.in_(_statuses(statuses)))
    return int(s.scalar(q) or 0)


def campaign_sales(s: Session, campaign_id: int, statuses: Iterable[str]) -> Sales:
    """Orders in ``statuses`` and what they brought in, net of refunds."""
    n, gmv = s.execute(select(func.count(), _NET).where(Order.campaign_id == campaign_id, Order.status.in_(_statuses(statuses)))).one()
    return Sales(int(n), int(gmv))


def sales_by_invite_code(s: Session, campaign_id: int, statuses: Iterable[str]) -> list[CodeSales]:
    """Orders in ``statuses`` and their net sales per invite code (orders without one left out)."""
    rows = s.execute(
        select(Order.invite_code, func.count(), _NET)
        .where(Order.campaign_id == campaign_id, Order.status.in_(_statuses(statuses)), Order.invite_code.is_not(None))
        .group_by(Order.invite_code)
    ).all()
    return [CodeSales(code, int(n), int(g)) for code, n, g in rows]


def sales_by_invite_code_and_buyer(s: Session, campaign_id: int, statuses: Iterable[str]) -> list[BuyerCodeSales]:
    """Like ``sales_by_invite_code``, per buyer too (so a board can leave out what a code's
    owner bought themselves), counting only orders something is still paid on (a fully
    refunded order is no sale), with the last payment time (who reached a total first)."""
    rows = s.execute(
        select(Order.invite_code, Order.member_id, func.count(), _NET, func.max(Order.paid_at))
        .where(Order.campaign_id == campaign_id, Order.status.in_(_statuses(statuses)), Order.invite_code.is_not(None), Order.total_paid > Order.refunded)
        .group_by(Order.invite_code, Order.member_id)
    ).all()
    return [BuyerCodeSales(code, buyer, int(n), int(g), at) for code, buyer, n, g, at in rows]


def order_ids_by_invite_code(s: Session, campaign_id: int, code: str, statuses: Iterable[str], *, exclude_buyer: int | None = None) -> list[int]:
    """The campaign's orders in ``statuses`` placed through ``code`` (not ``exclude_buyer``'s)."""
    q = select(Order.id).where(Order.campaign_id == campaign_id, Order.invite_code == code, Order.status.in_(_statuses(statuses)))
    if exclude_buyer is not None:
        q = q.where(Order.member_id != exclude_buyer)
    return list(s.scalars(q.order_by(Order.id)))


def orders_by_community(s: Session, campaign_id: int, statuses: Iterable[str], *, community_id: int | None = None) -> dict[int | None, int]:
    """The campaign's orders in ``statuses`` per community (None: orders with no
    community); only ``community_id``'s when it is given."""
    q = select(Order.community_id, func.count()).where(Order.campaign_id == campaign_id, Order.status.in_(_statuses(statuses)))
    if community_id is not None:
        q = q.where(Order.community_id == community_id)
    return {cid: int(n) for cid, n in s.execute(q.group_by(Order.community_id)).all()}


def order_refs_page(
    s: Session, statuses: Iterable[str], *, campaign_id: int | None = None, in_team: bool = False, after_id: int = 0, limit: int = CHUNK,
) -> list[OrderRef]:
    """One page, by order id after ``after_id``, of the orders in ``statuses`` of a
    campaign (or of any team with ``in_team``)."""
    q = select(*_REF_COLUMNS).where(Order.status.in_(_statuses(statuses)), Order.id > after_id)
    if campaign_id is not None:
        q = q.where(Order.campaign_id == campaign_id)
    if in_team:
        q = q.where(Order.team_id.is_not(None))
    return [_ref(r) for r in s.execute(q.order_by(Order.id).limit(min(limit, CHUNK))).all()]


def order_refs(s: Session, order_ids: Sequence[int]) -> dict[int, OrderRef]:
    """The orders among ``order_ids`` that exist, by id."""
    ids = sorted(set(order_ids))
    out: dict[int, OrderRef] = {}
    for i in range(0, len(ids), CHUNK):
        for row in s.execute(select(*_REF_COLUMNS).where(Order.id.in_(ids[i:i + CHUNK]))).all():
            out[row[0]] = _ref(row)
    return out


def campaigns_with_orders_in(s: Session, status: str) -> list[int]:
    """Campaigns that have an order in ``status`` (a transient one: pending, grouping)."""
    return sorted(s.scalars(select(Order.campaign_id).where(Order.status == str(status), Order.campaign_id.is_not(None)).distinct()))


def units_by_sku(s: Session, campaign_id: int, statuses: Iterable[str]) -> list[SkuUnits]:
    """Units per SKU of the campaign's orders in ``statuses``, and how many orders hold them."""
    rows = s.execute(
        select(OrderLine.sku_id, OrderLine.product_name, OrderLine.sku_name, func.sum(OrderLine.qty), func.count(func.distinct(OrderLine.order_id)))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.campaign_id == campaign_id, Order.status.in_(_statuses(statuses)))
        .group_by(OrderLine.sku_id, OrderLine.product_name, OrderLine.sku_name).order_by(OrderLine.sku_id)
    ).all()
    return [SkuUnits(sku, pn, sn, int(q), int(n)) for sku, pn, sn, q, n in rows]
