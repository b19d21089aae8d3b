"""The operator's live board of a campaign: orders, quota left per offer, and sales and
entries per leader code (whose link brought the buyers in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.campaigns import service
from linli.campaigns.models import Campaign, CampaignEntry
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.referral import service as referral


@dataclass
class Board:
    campaign: Campaign
    phase: str
    orders: int
    paid_orders: int
    gmv: int
    entries: int
    offers: list[service.OfferOut]
    by_code: list[dict]  # [{code, owner_id, nickname, orders, gmv, entries}]


def board(s: Session, who: Principal, merchant_id: int, campaign_id: int, now: datetime) -> Board:
    """The operator's live board: orders, quota left per offer, sales per leader code."""
    c = service.get_campaign(s, who, merchant_id, campaign_id)
    view = service.campaign_view(s, c.id, None, now)
    n_orders = orders.count_campaign_orders(s, c.id)
    sales = orders.campaign_sales(s, c.id, service.COUNTED)
    entries = s.scalar(select(func.count()).select_from(CampaignEntry).where(CampaignEntry.campaign_id == c.id)) or 0
    rows = [(x.code, x.orders, x.gmv) for x in orders.sales_by_invite_code(s, c.id, service.COUNTED)]
    entry_counts = dict(s.execute(
        select(CampaignEntry.invite_code, func.count()).where(CampaignEntry.campaign_id == c.id, CampaignEntry.invite_code.is_not(None)).group_by(CampaignEntry.invite_code)
    ).all())
    codes = {code for code, _, _ in rows} | set(entry_counts)
    owners = referral.code_owners(s, list(codes))
    members = identity.members_by_ids(s, list(set(owners.values())))
    names = {mid: m.nickname or "" for mid, m in members.items()}
    by_code = sorted(
        (
            {"code": code, "owner_id": owners.get(code), "nickname": names.get(owners.get(code), ""), "orders": next((n for k, n, _ in rows if k == code), 0),
             "gmv": int(next((g for k, _, g in rows if k == code), 0)), "entries": entry_counts.get(code, 0)}
            for code in codes
        ),
        key=lambda r: (-r["gmv"], -r["orders"], r["code"]),
    )
    return Board(c, view.phase, n_orders, sales.orders, sales.gmv, entries, view.offers, by_code)
