"""When the query job asks a provider about a payment (pure: no I/O).

First a minute after it was opened, or when its order expires if that is sooner (a payment
made in the last minute is found before the order is cancelled); then less often the longer
it stays unpaid (a stuck payment does not starve newer ones), but never later than the
expiry; last, once the provider can no longer take it (its expiry, or the provider's default
one, plus a margin for clock skew and a payment in the last second). A processing refund is
asked the same way, a minute after it was made and then less often, until it settles."""

from __future__ import annotations

from datetime import datetime, timedelta

LATE_AFTER = timedelta(seconds=60)
SHORTEST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=30)
LONGEST_REFUND_WAIT = timedelta(hours=6)  # a refund to a bank card can take days
DEFAULT_EXPIRY = timedelta(hours=2)  # WeChat Pay's when none is given; we always give one for orders
MARGIN = timedelta(minutes=10)


def first_check(opened_at: datetime, expires_at: datetime | None) -> datetime:
    first = opened_at + LATE_AFTER
    return first if expires_at is None else min(first, expires_at)


def last_check(opened_at: datetime, expires_at: datetime | None) -> datetime:
    return (expires_at or opened_at + DEFAULT_EXPIRY) + MARGIN


def next_check(opened_at: datetime, expires_at: datetime | None, as_of: datetime) -> datetime | None:
    """After an answer "not paid" at ``as_of``; None once the last check is done."""
    last = last_check(opened_at, expires_at)
    if as_of >= last:
        return None
    at = as_of + _wait(opened_at, as_of, LONGEST_WAIT)
    if expires_at is not None and as_of < expires_at:
        at = min(at, expires_at)
    return min(at, last)


def _wait(opened_at: datetime, as_of: datetime, longest: timedelta) -> timedelta:
    return min(max((as_of - opened_at) / 4, SHORTEST_WAIT), longest)


def next_refund_check(made_at: datetime, as_of: datetime) -> datetime:
    """After a processing refund was asked at ``as_of``: asked until it settles, less often."""
    return as_of + _wait(made_at, as_of, LONGEST_REFUND_WAIT)
