"""Group-buy teams (拼团): paying fills a seat; a full team succeeds and its orders go on;
a team short at its deadline fails and every paid order in it is refunded in full.

Seats are taken by the campaign pricing step (``checkout``). Here a seat's payment is counted
(``order.paid``), a team goes forming → succeeded or forming → failed, each by
compare-and-set on ``Team.status``, and the orders follow: released from ``grouping`` on
success, refunded (or, unpaid, cancelled) on failure. Every step may run twice, late or
concurrently with the others and still has one effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import events
from linli.campaigns import service as campaigns
from linli.campaigns.events import TeamFacts, TeamFailed, TeamSucceeded
from linli.campaigns.group_buy import rules
from linli.campaigns.group_buy.rules import OnPayment, TeamStatus
from linli.campaigns.models import Campaign, Offer, Team, TeamMember
from linli.catalog import service as catalog
from linli.db import Database
from linli.errors import Conflict, NotFound
from linli.events import Event, on
from linli.identity import service as identity
from linli.jobs import job
from linli.orders import service as orders
from linli.orders.events import OrderPaid
from linli.orders.rules import Status

log = logging.getLogger("linli.campaigns.teams")

BATCH = 500


def members_of(s: Session, team_id: int) -> list[TeamMember]:
    """The team's seats: the opener first, then by joining time."""
    return list(s.scalars(select(TeamMember).where(TeamMember.team_id == team_id).order_by(TeamMember.is_opener.desc(), TeamMember.joined_at, TeamMember.id)))


def _fresh(s: Session, team_id: int) -> Team:
    return s.scalars(select(Team).where(Team.id == team_id).execution_options(populate_existing=True)).one()


def _emit(s: Session, event: type[TeamFacts], team: Team, at: datetime) -> None:
    events.emit(s, event(team_id=team.id, campaign_id=team.campaign_id, opener_id=team.opener_id, size=team.size), merchant_id=team.merchant_id, at=at)


# --- a seat is paid ----------------------------------------------------------------------------


def _count_payment(s: Session, tm: TeamMember, paid_at: datetime) -> bool:
    """Mark the seat paid and the team one payment fuller, both or neither: the team must
    still be forming and ``paid_at`` before its deadline. True if this call counted it."""
    sp = s.begin_nested()
    # The seat's row, then the team's (the deadline job counts seats in the same order).
    if s.execute(update(TeamMember).where(TeamMember.id == tm.id, TeamMember.paid.is_(False)).values(paid=True)).rowcount == 1 and s.execute(
        update(Team).where(Team.id == tm.team_id, Team.status == TeamStatus.forming.value, Team.deadline > paid_at, Team.paid_count < Team.size)
        .values(paid_count=Team.paid_count + 1)
    ).rowcount == 1:
        sp.commit()
        return True
    sp.rollback()
    return False


def _succeed(s: Session, team_id: int, now: datetime) -> bool:
    """forming → succeeded once every seat is paid: the orders leave ``grouping``, and a
    ``leader_free`` team's opener gets their money back (the goods still come)."""
    if s.execute(
        update(Team).where(Team.id == team_id, Team.status == TeamStatus.forming.value, Team.paid_count >= Team.size)
        .values(status=TeamStatus.succeeded.value, ended_at=now)
    ).rowcount != 1:
        return False
    team = _fresh(s, team_id)
    c = s.get(Campaign, team.campaign_id)
    for tm in members_of(s, team.id):
        orders.release_hold(s, tm.order_id, now, "team_succeeded")
        if rules.opener_refunded(c.team_variant, tm.is_opener):
            orders.system_refund(s, tm.order_id, None, "team_leader_free", now, keep_order=True)
    _emit(s, TeamSucceeded, team, now)
    return True


def seat_paid(s: Session, order_id: int, paid_at: datetime) -> OnPayment | None:
    """A team order was paid at ``paid_at``: count its seat (and the team may succeed), let
    it go on, or refund it if its team failed. Safe to call again."""
    tm = s.scalars(select(TeamMember).where(TeamMember.order_id == order_id)).first()
    if tm is None:  # the seat was given back (the order was cancelled): orders refund a late payment
        return None
    if _count_payment(s, tm, paid_at):
        _succeed(s, tm.team_id, paid_at)
        return OnPayment.count
    s.refresh(tm)
    team = _fresh(s, tm.team_id)
    action = rules.on_payment(team.status, team.deadline, paid_at, tm.paid)
    if action is OnPayment.proceed:
        orders.release_hold(s, order_id, paid_at, "team_succeeded")
    elif action is OnPayment.refund:
        refund_order(s, order_id, paid_at)
    return action  # wait: the deadline job fails the team and refunds this order


@on(OrderPaid, name="linli.campaigns.teams.team_order_paid")  # the key it had before the move: an event handled there is not handled again
def team_order_paid(s: Session, event: Event[OrderPaid]) -> None:
    if event.payload.team_id is None:
        return
    seat_paid(s, event.payload.order_id, event.created_at)


# --- the deadline --------------------------------------------------------------------------------


def close_due(s: Session, team_id: int, as_of: datetime) -> TeamStatus | None:
    """A team at its deadline: payments that landed in time but were not counted yet (their
    ``order.paid`` still on its way) count first; then it succeeds if full, else fails."""
    team = _fresh(s, team_id)
    if not rules.is_due(team.status, team.deadline, as_of):
        return None
    waiting = [tm for tm in members_of(s, team.id) if not tm.paid]
    refs = orders.order_refs(s, [tm.order_id for tm in waiting])
    for tm in waiting:
        o = refs.get(tm.order_id)
        if o is not None and o.status == Status.grouping.value and o.paid_at is not None and rules.counts(team.deadline, o.paid_at):
            _count_payment(s, tm, o.paid_at)
    if _succeed(s, team.id, as_of):
        return TeamStatus.succeeded
    if s.execute(
        update(Team).where(Team.id == team.id, Team.status == TeamStatus.forming.value, Team.deadline <= as_of, Team.paid_count < Team.size)
        .values(status=TeamStatus.failed.value, ended_at=team.deadline)
    ).rowcount != 1:
        return None
    _emit(s, TeamFailed, _fresh(s, team.id), team.deadline)
    return TeamStatus.failed


def refund_order(s: Session, order_id: int, now: datetime) -> bool:
    """An order of a failed team: paid → refunded in full (the order is cancelled and
    earns nothing); unpaid → cancelled. False if nothing was left to do."""
    tm = s.scalars(select(TeamMember).where(TeamMember.order_id == order_id)).first()
    if tm is None or _fresh(s, tm.team_id).status != TeamStatus.failed.value:
        return False
    o = orders.order_refs(s, [order_id]).get(order_id)
    if o is None:
        return False
    if o.status == Status.pending_payment.value:
        return orders.cancel_unpaid_order(s, order_id, now, reason="team_failed")
    if o.status == Status.grouping.value:
        return orders.system_refund(s, order_id, None, "team_failed", now) is not None
    return False


def failed_team_orders(s: Session, limit: int = BATCH) -> list[int]:
    """Orders of failed teams still waiting (paid in ``grouping``, or unpaid), by id: the
    team orders in those states a page at a time, kept when their seat is in a failed team."""
    out: list[int] = []
    after = 0
    while len(out) < limit:
        page = orders.order_refs_page(s, (Status.grouping, Status.pending_payment), in_team=True, after_id=after)
        if not page:
            break
        failed = set(s.scalars(
            select(TeamMember.order_id).join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.order_id.in_([r.order_id for r in page]), Team.status == TeamStatus.failed.value)
        ))
        out += [r.order_id for r in page if r.order_id in failed]
        if len(page) < orders.CHUNK:
            break
        after = page[-1].order_id
    return out[:limit]


@job("campaigns.team_deadlines", order=15)
def team_deadlines(db: Database, as_of: datetime) -> int:
    """Teams past their deadline succeed (if their last payments were still being counted)
    or fail; then every order of a failed team is refunded or cancelled, each in its own
    transaction. Returns the teams closed plus the orders refunded or cancelled."""
    with db.transaction() as s:
        due = list(s.scalars(select(Team.id).where(Team.status == TeamStatus.forming.value, Team.deadline <= as_of).order_by(Team.id).limit(BATCH)))
    done = 0
    for team_id in due:
        with db.transaction() as s:
            done += close_due(s, team_id, as_of) is not None
    with db.transaction() as s:
        waiting = failed_team_orders(s)
    for order_id in waiting:
        try:
            with db.transaction() as s:
                done += refund_order(s, order_id, as_of)
        except Conflict as exc:  # a refund of the same order running concurrently: the next run sees it done
            log.warning("team order %s not refunded this run: %s", order_id, exc.code)
    return done


# --- reading a team ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    member_id: int
    order_id: int
    paid: bool
    is_opener: bool
    nickname: str  # masked
    joined_at: datetime


@dataclass(frozen=True)
class TeamView:
    team: Team
    campaign: Campaign
    seats: list[Seat]
    sku_id: int | None
    product_id: int | None
    product_name: str
    sku_name: str
    image: str | None
    price: int | None
    list_price: int | None
    seats_left: int
    seconds_left: int
    joinable: bool
    campaign_open: bool  # a new team can still be opened

    def seat_of(self, member_id: int | None) -> Seat | None:
        return next((x for x in self.seats if x.member_id == member_id), None) if member_id else None


def team_view(s: Session, team_id: int, now: datetime, viewer_id: int | None = None) -> TeamView:
    """A team as anyone with its link sees it: product, team price, seats (nicknames
    masked), deadline and status; whether a new team can be opened is as ``viewer_id`` sees
    it (a member with early access may open one before the start)."""
    team = s.get(Team, team_id)
    c = s.get(Campaign, team.campaign_id) if team else None
    if team is None or c is None or c.status == "cancelled":
        raise NotFound("team.not_found", "No such team.")
    identity.public_merchant(s, team.merchant_id)
    rows = members_of(s, team.id)
    people = identity.members_by_ids(s, [tm.member_id for tm in rows])
    nick = {mid: rules.mask_nickname(m.nickname) for mid, m in people.items()}
    seats = [Seat(tm.member_id, tm.order_id, tm.paid, tm.is_opener, nick.get(tm.member_id, "**"), tm.joined_at) for tm in rows]
    offer = s.scalars(select(Offer).where(Offer.campaign_id == c.id).order_by(Offer.id)).first()
    sku = catalog.sku_views(s, [offer.sku_id]).get(offer.sku_id) if offer else None
    image = catalog.public_product(s, sku.product_id).image if sku and sku.active else None
    return TeamView(
        team, c, seats, offer.sku_id if offer else None, sku.product_id if sku else None, sku.product_name if sku else "", sku.sku_name if sku else "", image,
        offer.price if offer else None, sku.price if sku else None, rules.seats_left(team.size, team.seats_taken), rules.seconds_left(team.status, team.deadline, now),
        rules.joinable(team.status, team.size, team.seats_taken, team.deadline, now) and offer is not None,
        c.status == "active" and c.starts_at - timedelta(minutes=campaigns.early_minutes(s, c, viewer_id, now)) <= now < c.ends_at and offer is not None,
    )
