"""Team endpoints: ``GET /teams/{id}`` (public: anyone with the share link may look;
members appear by id and masked nickname, never by phone)."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request

from linli.campaigns.group_buy import service as teams
from linli.schema import Id, Output
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["campaigns"])


class TeamMemberOut(Output):
    member_id: int
    order_id: int
    paid: bool
    is_opener: bool
    nickname: str


class TeamOut(Output):
    id: int
    campaign_id: int
    merchant_id: int
    status: str
    size: int
    seats_taken: int
    seats_left: int
    paid_count: int
    variant: str
    deadline: datetime
    seconds_left: int
    sku_id: int | None
    product_name: str
    sku_name: str
    price: int | None
    list_price: int | None
    members: list[TeamMemberOut]
    share_url: str


@router.get("/teams/{team_id}", response_model=TeamOut, responses=PROBLEMS)
def get_team(team_id: Id, request: Request, s: DB, now: Now) -> TeamOut:
    """A group-buy team: status (forming, succeeded, failed), size, seats and who paid,
    deadline, the team price and the link to share."""
    v = teams.team_view(s, team_id, now)
    t = v.team
    return TeamOut(
        id=t.id, campaign_id=t.campaign_id, merchant_id=t.merchant_id, status=t.status, size=t.size, seats_taken=t.seats_taken, seats_left=v.seats_left,
        paid_count=t.paid_count, variant=v.campaign.team_variant or "standard", deadline=t.deadline, seconds_left=v.seconds_left, sku_id=v.sku_id,
        product_name=v.product_name, sku_name=v.sku_name, price=v.price, list_price=v.list_price,
        members=[TeamMemberOut(member_id=x.member_id, order_id=x.order_id, paid=x.paid, is_opener=x.is_opener, nickname=x.nickname) for x in v.seats],
        share_url=str(request.base_url).rstrip("/") + f"/m/teams/{t.id}",
    )
