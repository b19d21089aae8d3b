"""A campaign as a member sees it, whatever its kind: the view every kind shares
(``service.campaign_view``) and what the kind adds to it — for a threshold, the progress of
the member's community towards the next tier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli.campaigns import rules, service
from linli.campaigns.threshold import service as thresholds


def member_view(s: Session, campaign_id: int, member_id: int | None, now: datetime) -> service.CampaignView:
    """A campaign as a member sees it: prices, quota left, countdown, and for a threshold
    their community's progress towards the next tier."""
    view = service.campaign_view(s, campaign_id, member_id, now)
    if view.campaign.kind == rules.Kind.threshold:
        view.progress = thresholds.progress(s, view.campaign, view.community_id)
    return view
