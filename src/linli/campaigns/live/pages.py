"""The live room's sharer corner on the member's live page (``/m/campaigns/{id}``):

- the "一键成为分享官" card: a one-tap form by the shop's sharer mode (posted to
  ``/m/campaigns/{id}/sharer``, in ``campaigns/pages.py`` with the page it re-renders), or
  the reason a tap would not help, or an active sharer's share link and poster for this
  session;
- the sharer board, re-read every few seconds (HTMX) while the session is not over.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.campaigns import service
from linli.campaigns.live import sharers
from linli.campaigns.models import Campaign
from linli.campaigns.posters import poster_png
from linli.errors import Forbidden
from linli.i18n import N_
from linli.identity import service as identity
from linli.money import format_yuan
from linli.referral.rules import SharerPath
from linli.schema import Id
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.pages import MemberWho, Page, PageDep, error_messages

router = deps_router(include_in_schema=False)

BOARD_POLL_SECONDS = 5

error_messages({
    "campaign.no_sharer_board": N_("Only a live session has a sharer board."),
    "sharer.not_active": N_("Become a sharer first: your poster carries your share link."),
})

# Why a tap would not help (the button is replaced by this).
REASONS = {
    SharerPath.needs_purchase: N_("You can become a sharer once your first order from this shop is received."),
    SharerPath.needs_spend: N_("Your received orders at this shop do not reach ¥%(amount)s yet."),
    SharerPath.invite_only: N_("This shop appoints its sharers itself; ask the shop to invite you."),
    SharerPath.suspended: N_("Your sharer account at this shop is suspended; please contact the shop."),
}
NOTICES = {"active": N_("You are a sharer now: share your link below."), "applied": N_("Application sent.")}


def share_link(page: Page, campaign_id: int, code: str) -> str:
    """The live page with the sharer's personal code: entries through it count for them."""
    return str(page.request.base_url).rstrip("/") + f"/m/campaigns/{campaign_id}?code={quote(code)}"


def sharer_context(page: Page, s: Session, c: Campaign, now: datetime) -> dict:
    """What the sharer card shows the viewer (a visitor: a way to log in and come back)."""
    if page.who is None:
        return {"share": None}
    st = sharers.share_state(s, c, page.who.member_id, now)
    reason = REASONS.get(st.path)
    notice = NOTICES.get(page.request.query_params.get("sharer", ""))
    return {
        "share": st, "share_link": share_link(page, c.id, st.code) if st.code else None,
        "share_reason": page._(reason) % {"amount": format_yuan(st.spend_threshold)} if reason else None,
        "share_notice": page._(notice) if notice and st.path.value == page.request.query_params.get("sharer") else None,
    }


def board_context(page: Page, s: Session, campaign_id: int, now: datetime) -> dict:
    b = sharers.sharer_board(s, campaign_id, page.who.member_id if page.who else None, now)
    return {"sharer_board": b, "board_poll": BOARD_POLL_SECONDS}


@router.get("/m/campaigns/{cid}/sharer-board")
def sharer_board(cid: Id, page: PageDep, s: DB, now: Now) -> Response:
    """The sharer board alone, polled by the live page every few seconds."""
    return page.render("campaigns/_sharer_board.html", **board_context(page, s, cid, now))


def _poster_offer(s: Session, c: Campaign, now: datetime) -> service.OfferOut | None:
    """The offer a sharer's poster shows: the cheapest one open to everyone in the room."""
    offers = service.campaign_view(s, c.id, None, now).offers
    open_ = [o for o in offers if o.offer.community_id is None and o.offer.leader_id is None]
    return min(open_ or offers, key=lambda o: (o.offer.price, o.offer.id), default=None)


@router.get("/m/campaigns/{cid}/share/poster.png")
def share_poster(cid: Id, page: PageDep, s: DB, who: MemberWho, ctx: Ctx, now: Now) -> Response:
    """A sharer's poster of this live session: the product, the title and price, and a QR
    code of their share link."""
    c = sharers.live_campaign(s, cid)
    st = sharers.share_state(s, c, who.member_id, now)
    if st.code is None:
        raise Forbidden("sharer.not_active", "Become a sharer first: the poster carries your share link.")
    shop = identity.public_merchant(s, c.merchant_id)
    me = identity.get_member(s, who.member_id)
    offer = _poster_offer(s, c, now)
    return poster_png(
        s, ctx.settings.media_dir, shop=shop.name, title=c.title, product_id=offer.offer.product_id if offer else None,
        price=offer.offer.price if offer else None, nickname=me.nickname, link=share_link(page, c.id, st.code),
    )
