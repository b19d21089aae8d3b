"""Analytics follows orders and arrivals: every order event restates that order's share of
the rollups (it reads the order as it is now, so events arriving late, twice or out of
order all end in the same figures); a binding or a community choice records when a member
joined the shop and who invited them; posters taken, invite links opened and orders placed
are the funnel's first stages."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.analytics import service
from linli.community import service as community
from linli.community.events import MemberCommunitySet
from linli.events import Event, on
from linli.orders.events import OrderCreated, OrderPaid, OrderReceived, OrderRefunded
from linli.referral.events import CodeShared, CodeVisited, MemberBound


@on(OrderPaid)
def count_paid(s: Session, event: Event[OrderPaid]) -> None:
    service.restate_order(s, event.payload.order_id)


@on(OrderRefunded)
def count_refund(s: Session, event: Event[OrderRefunded]) -> None:
    service.restate_order(s, event.payload.order_id)


@on(OrderReceived)
def count_received(s: Session, event: Event[OrderReceived]) -> None:
    service.restate_order(s, event.payload.order_id)


@on(MemberBound)
def count_binding(s: Session, event: Event[MemberBound]) -> None:
    p = event.payload
    service.member_arrived(s, p.merchant_id, p.invitee_id, event.created_at, inviter_id=p.inviter_id)


@on(MemberCommunitySet)
def count_home(s: Session, event: Event[MemberCommunitySet]) -> None:
    p = event.payload
    merchant_id = community.public_community(s, p.community_id).merchant_id
    service.member_arrived(s, merchant_id, p.member_id, event.created_at, community_id=p.community_id)


@on(CodeShared)
def count_share(s: Session, event: Event[CodeShared]) -> None:
    p = event.payload
    service.count_funnel(s, p.merchant_id, p.sharer_id, None, event.created_at, "shares")


@on(CodeVisited)
def count_visit(s: Session, event: Event[CodeVisited]) -> None:
    p = event.payload
    service.count_funnel(s, p.merchant_id, p.sharer_id, p.campaign_id, event.created_at, "visits")


@on(OrderCreated)
def count_placed(s: Session, event: Event[OrderCreated]) -> None:
    p = event.payload
    service.order_placed(s, p.merchant_id, p.member_id, p.invite_code, p.campaign_id, event.created_at)
