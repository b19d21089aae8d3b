"""The live room's sharers (seed 003: 直播间下方常驻"一键成为分享官"的按钮，并展示实时的佣金收益榜).

- One tap to become a sharer, by the shop's sharer mode (``referral.service.apply``: at
  once, an application for review, or refused with the reason), and an active sharer's
  share link for this session: the live page with their personal code. Their personal
  code, not a per-campaign code: a campaign code (``referral.my_code(campaign_id=)``) is a
  leader's and pays the leader's share, while a sharer's link must pay level 1 as usual.
- The sharer board: the session's sharers ranked by the GMV their personal codes brought
  into it — paid orders net of refunds (a fully refunded order is no sale), without what
  a sharer bought through their own code. Leaders' campaign codes stay on the operator's
  board (``live.board``, sales per leader code), not here; a leader's personal code counts
  like anyone's. Only active sharers are ranked; members under a risk hold are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from linli.campaigns import rules as campaign_rules
from linli.campaigns import service
from linli.campaigns.live import rules
from linli.campaigns.models import Campaign
from linli.commission import service as commission
from linli.errors import NotFound
from linli.identity import service as identity
from linli.identity.rules import mask_phone
from linli.orders import service as orders
from linli.referral import service as referral
from linli.referral.rules import SharerPath

BOARD_SIZE = 10


def live_campaign(s: Session, campaign_id: int) -> Campaign:
    """A live session members can see (other kinds have no sharer board)."""
    c = service.public_campaign(s, campaign_id)
    if c.kind != campaign_rules.Kind.live:
        raise NotFound("campaign.no_sharer_board", "Only a live session has a sharer board.")
    return c


# --- becoming a sharer in the room -----------------------------------------------------------


@dataclass(frozen=True)
class ShareState:
    path: SharerPath
    spend_threshold: int  # fen, for ``needs_spend``
    code: str | None = None  # the member's personal code, once they are an active sharer


def share_state(s: Session, c: Campaign, member_id: int, now: datetime) -> ShareState:
    path, cfg = referral.sharer_path(s, c.merchant_id, member_id)
    code = referral.my_code(s, member_id, c.merchant_id, now).code if path == SharerPath.active else None
    return ShareState(path, cfg.spend_threshold, code)


def become_sharer(s: Session, member_id: int, campaign_id: int, now: datetime) -> ShareState:
    """The one tap: apply by the shop's sharer mode. Tapping again changes nothing (an
    active sharer or a pending application stays as it is)."""
    c = live_campaign(s, campaign_id)
    referral.apply(s, member_id, c.merchant_id, now)
    return share_state(s, c, member_id, now)


# --- the sharer board --------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardEntry:
    rank: int
    member_id: int
    name: str
    phone_masked: str
    orders: int
    gmv: int


@dataclass(frozen=True)
class MyLine:
    """The viewing sharer's own line: rank (None: not ranked — nothing brought yet, or
    under a risk hold), what their code brought, and their commission on those orders."""

    rank: int | None
    orders: int
    gmv: int
    commission: int
    code: str


@dataclass
class SharerBoard:
    campaign: Campaign
    phase: str
    entries: list[BoardEntry]
    me: MyLine | None


def standings(s: Session, c: Campaign) -> list[rules.Standing]:
    """Every active sharer's standing in the session (held ones included)."""
    rows = orders.sales_by_invite_code_and_buyer(s, c.id, service.COUNTED)
    owners = referral.personal_code_owners(s, c.merchant_id, sorted({r.code for r in rows}))
    totals: dict[int, list] = {}
    for r in rows:
        owner = owners.get(r.code)
        if owner is None or owner == r.buyer_id:
            continue
        t = totals.setdefault(owner, [0, 0, None])
        t[0] += r.orders
        t[1] += r.gmv
        if r.last_paid_at is not None and (t[2] is None or r.last_paid_at > t[2]):
            t[2] = r.last_paid_at
    active = referral.active_sharers(s, c.merchant_id, list(totals))
    return [rules.Standing(m, n, g, at) for m, (n, g, at) in totals.items() if m in active]


def sharer_board(s: Session, campaign_id: int, viewer_id: int | None, now: datetime) -> SharerBoard:
    c = live_campaign(s, campaign_id)
    everyone = standings(s, c)
    held = commission.held(s, c.merchant_id)
    ranked = rules.rank(x for x in everyone if x.member_id not in held)
    top = ranked[:BOARD_SIZE]
    people = identity.members_by_ids(s, [x.member_id for _, x in top])
    entries = [BoardEntry(r, x.member_id, people[x.member_id].nickname or "", mask_phone(people[x.member_id].phone), x.orders, x.gmv) for r, x in top]
    me = None
    if viewer_id is not None and referral.sharer_status(s, c.merchant_id, viewer_id) == "active":
        code = referral.my_code(s, viewer_id, c.merchant_id, now).code
        mine = next((x for x in everyone if x.member_id == viewer_id), None)
        my_rank = next((r for r, x in ranked if x.member_id == viewer_id), None)
        ids = orders.order_ids_by_invite_code(s, c.id, code, service.COUNTED, exclude_buyer=viewer_id)
        me = MyLine(my_rank, mine.orders if mine else 0, mine.gmv if mine else 0, commission.commission_on_orders(s, c.merchant_id, viewer_id, ids), code)
    return SharerBoard(c, campaign_rules.phase(c.starts_at, c.ends_at, c.status, now).value, entries, me)
