"""Campaigns react to orders (their pricing step is wired in ``campaigns/domain.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.campaigns.events import CampaignPurchased
from linli.events import Event, emit, on
from linli.orders.events import OrderPaid


@on(OrderPaid)
def purchased(s: Session, event: Event[OrderPaid]) -> None:
    """A campaign order was paid: tell the community features (``campaign.purchased``)."""
    p = event.payload
    if p.campaign_id is None:
        return
    emit(s, CampaignPurchased(
        campaign_id=p.campaign_id, order_id=p.order_id, member_id=p.member_id, community_id=p.community_id,
        team_id=p.team_id, invite_code=p.invite_code, total_paid=p.total_paid,
    ), merchant_id=p.merchant_id, at=event.created_at)

# Team seats follow their orders' payments (registered in ``group_buy.service``).
from linli.campaigns.group_buy import service as teams  # noqa: E402,F401
