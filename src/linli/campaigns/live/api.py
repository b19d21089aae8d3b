"""The live room's sharer board: ``GET /campaigns/{id}/sharer-board`` (public: the entries
show nicknames and masked phones only; a logged-in sharer also gets their own line).
Becoming a sharer from the room is ``POST /merchants/{mid}/sharer`` (referral)."""

from __future__ import annotations

from linli.campaigns.live import sharers
from linli.schema import Id, Output
from linli.web.deps import DB, MaybeWho, Now
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["campaigns"])


class SharerEntryOut(Output):
    rank: int
    member_id: int
    name: str
    phone_masked: str
    orders: int
    gmv: int


class MyLineOut(Output):
    rank: int | None
    orders: int
    gmv: int
    commission: int
    code: str


class SharerBoardOut(Output):
    campaign_id: int
    phase: str
    entries: list[SharerEntryOut]
    me: MyLineOut | None = None


@router.get("/campaigns/{campaign_id}/sharer-board", response_model=SharerBoardOut, responses=PROBLEMS)
def sharer_board(campaign_id: Id, s: DB, who: MaybeWho, now: Now) -> SharerBoardOut:
    """The session's top sharers by the GMV their personal codes brought into it (paid, net
    of refunds; ties share a rank), and the caller's own line if they are a sharer."""
    b = sharers.sharer_board(s, campaign_id, who.member_id if who else None, now)
    me = b.me
    return SharerBoardOut(
        campaign_id=b.campaign.id, phase=b.phase, entries=[SharerEntryOut(**e.__dict__) for e in b.entries],
        me=MyLineOut(rank=me.rank, orders=me.orders, gmv=me.gmv, commission=me.commission, code=me.code) if me else None,
    )
