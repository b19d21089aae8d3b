"""Pure rules of a group-buy team (拼团): its states, what a payment does to it, what the
deadline does, and what a stranger may see of its members. No I/O, no clock.

    forming --(size seats paid before the deadline)--> succeeded
    forming --(deadline passed short of size)-------> failed
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class TeamStatus(StrEnum):
    forming = "forming"
    succeeded = "succeeded"
    failed = "failed"


class OnPayment(StrEnum):
    """What a member's payment does, seen from the team."""

    count = "count"  # a seat of a forming team, paid in time: it counts towards the size
    proceed = "proceed"  # the seat was counted already and the team succeeded: the order goes on
    refund = "refund"  # the team failed (or the payment came too late to count): money back
    wait = "wait"  # paid after the deadline of a team still forming: the deadline job fails it


def counts(deadline: datetime, paid_at: datetime) -> bool:
    """A payment counts only if it landed before the team's deadline."""
    return paid_at < deadline


def on_payment(status: str, deadline: datetime, paid_at: datetime, seat_counted: bool) -> OnPayment:
    if status == TeamStatus.forming:
        if seat_counted:
            return OnPayment.wait
        return OnPayment.count if counts(deadline, paid_at) else OnPayment.wait
    if status == TeamStatus.succeeded and seat_counted:
        return OnPayment.proceed
    return OnPayment.refund


def is_due(status: str, deadline: datetime, as_of: datetime) -> bool:
    """A team still forming at its deadline has failed."""
    return status == TeamStatus.forming and deadline <= as_of


def full(size: int, paid_count: int) -> bool:
    return paid_count >= size


def seats_left(size: int, seats_taken: int) -> int:
    return max(size - seats_taken, 0)


def seconds_left(status: str, deadline: datetime, now: datetime) -> int:
    if status != TeamStatus.forming:
        return 0
    return max(int((deadline - now).total_seconds()), 0)


def joinable(status: str, size: int, seats_taken: int, deadline: datetime, now: datetime) -> bool:
    """Whether a new member could take a seat now (the checkout's compare-and-set decides)."""
    return status == TeamStatus.forming and seats_taken < size and now < deadline


def opener_refunded(variant: str | None, is_opener: bool) -> bool:
    """``leader_free`` (3人免单): the opener's order is refunded when the team succeeds."""
    return variant == "leader_free" and is_opener


def mask_nickname(nickname: str) -> str:
    """What a stranger sees of a member: the first character, the rest starred (王阿姨 →
    王**). Never the phone number, nor digits a default nickname took from it."""
    nick = " ".join((nickname or "").split())
    if not nick:
        return "**"
    return nick[0] + "**"
