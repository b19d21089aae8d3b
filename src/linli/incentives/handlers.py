"""Incentives' reactions to order events (each once per event: the outbox's handled_events;
and once per referral by its own states, so a replay changes nothing): a received first
order makes a referral pending, its completion grants it, a refund below the minimum voids
it (incentives/referrals.py). A received order someone brought is recorded as their referred
sale and follows its refunds (incentives/sales.py): what leaderboards and badges count; the
sale's change moves its sharer's leaderboard scores in the same transaction (boards.py), and
a sale whose net moved, or a granted referral, re-evaluates the badges of the member who
brought it (incentives/badges.py). ``member.bound`` is recorded as binding history (the
inviter bound at the receipt gets the referral) and rewards nothing: RULES.md never rewards a
sign-up. A member who becomes an active sharer gets the starter kit once (incentives/starter_kit.py).
A claw back of a sharer's commission (``commission.clawed_back``) voids the referral rewards
that waited for them while they were held."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.commission.events import CommissionClawedBack
from linli.events import Event, on
from linli.incentives import badges, boards, referrals, sales, starter_kit
from linli.incentives.events import ReferralGranted
from linli.incentives.turns import take_turn
from linli.orders.events import OrderCompleted, OrderReceived, OrderRefunded
from linli.referral.events import MemberBound, SharerActivated


@on(MemberBound)
def binding_recorded(s: Session, event: Event[MemberBound]) -> None:
    referrals.on_bound(s, event.payload, event.id, event.created_at)


@on(OrderReceived)
def referral_pending(s: Session, event: Event[OrderReceived]) -> None:
    referrals.on_received(s, event.payload, event.created_at)


@on(OrderCompleted)
def referral_granted(s: Session, event: Event[OrderCompleted]) -> None:
    referrals.on_completed(s, event.payload, event.created_at)


@on(OrderRefunded)
def referral_voided(s: Session, event: Event[OrderRefunded]) -> None:
    referrals.on_refunded(s, event.payload, event.created_at)


@on(CommissionClawedBack)
def referrals_clawed_back(s: Session, event: Event[CommissionClawedBack]) -> None:
    referrals.void_for_clawback(s, event.payload.merchant_id, event.payload.member_id, event.created_at)


@on(OrderReceived)
def sale_received(s: Session, event: Event[OrderReceived]) -> None:
    take_turn(s, event.payload.merchant_id, event.payload.member_id)
    if (change := sales.on_received(s, event.payload, event.payload.received_at)) is not None:
        boards.on_sale(s, change, event.created_at)
        badges.on_sale(s, change, event.created_at)


@on(OrderRefunded)
def sale_refunded(s: Session, event: Event[OrderRefunded]) -> None:
    take_turn(s, event.payload.merchant_id, event.payload.member_id)
    if (change := sales.on_refunded(s, event.payload)) is not None:
        boards.on_sale(s, change, event.created_at)
        badges.on_sale(s, change, event.created_at)


@on(ReferralGranted)
def badges_referral_granted(s: Session, event: Event[ReferralGranted]) -> None:
    badges.on_referral_granted(s, event.payload, event.created_at)


@on(SharerActivated)
def starter_kit_given(s: Session, event: Event[SharerActivated]) -> None:
    starter_kit.on_activated(s, event.payload, event.created_at)
