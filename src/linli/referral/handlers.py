"""Referral reactions: bind new members who arrived with a code; promote buyers to
sharers when the merchant's mode says a received order is enough."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from linli.community.events import CommunityLeaderChanged
from linli.errors import DomainError
from linli.events import Event, on
from linli.identity.events import MemberArrivedWithCode, MemberJoined
from linli.orders.events import OrderReceived
from linli.referral import service

log = logging.getLogger("linli.referral")


def _bind(s: Session, event: Event[MemberJoined] | Event[MemberArrivedWithCode], is_new: bool) -> None:
    code = event.payload.invite_code
    if not code:
        return
    try:
        with s.begin_nested():
            service.bind(s, event.payload.member_id, code, event.created_at, invitee_is_new=is_new, edge_facts=event.payload.edge)
    except DomainError as exc:
        # A refused binding (unknown code, already bound, cycle…) is an answer, not a
        # failure to retry: the member simply stays as they were.
        log.info("binding from login refused: %s", exc.code)


@on(MemberJoined)
def bind_new_member(s: Session, event: Event[MemberJoined]) -> None:
    _bind(s, event, True)


@on(MemberArrivedWithCode)
def bind_returning_member(s: Session, event: Event[MemberArrivedWithCode]) -> None:
    _bind(s, event, False)


@on(OrderReceived)
def promote_buyer(s: Session, event: Event[OrderReceived]) -> None:
    service.promote_if_eligible(s, event.payload.merchant_id, event.payload.member_id, event.created_at)


@on(CommunityLeaderChanged)
def leaders_are_sharers(s: Session, event: Event[CommunityLeaderChanged]) -> None:
    """A community leader is a sharer (RULES.md, Parties): appointing one makes them an
    active sharer, unless they are suspended."""
    leader = event.payload.leader_member_id
    if leader:
        service.make_leader_sharer(s, event.merchant_id, leader, event.created_at)
