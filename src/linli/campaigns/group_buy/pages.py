"""Member pages of a group-buy team: the team page a member shares (``/m/teams/{id}``).

Anyone with the link may look (a friend opening it in a chat need not be logged in yet):
the product at the team price, the seats with masked nicknames, seats left, the
countdown, the status, the link to copy, and a button to join that goes to checkout with
the team (logging in first if needed). While the team is forming the page re-reads its
card every few seconds (HTMX), so the opener sees friends arrive.
"""

from __future__ import annotations

from fastapi.responses import Response

from linli.campaigns.group_buy import service as teams
from linli.i18n import N_
from linli.schema import Id
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import Page, PageDep, error_messages

router = deps_router(include_in_schema=False)

POLL_SECONDS = 5

error_messages(
    {
        "team.not_found": N_("No such team. Ask your friend for the link again."),
        "team.full": N_("This team is full; open a new team instead."),
        "team.closed": N_("This team has closed; open a new one."),
        "team.already_member": N_("You are already in this team."),
        "team.other_campaign": N_("This team belongs to another campaign."),
        "team.not_a_team_campaign": N_("This campaign has no teams."),
        "team.one_item": N_("A team order is for the team's item only."),
    }
)

STATUS_NAMES = {"forming": N_("Forming"), "succeeded": N_("Team formed"), "failed": N_("Team not formed")}


def clock_text(seconds: int) -> str:
    """12:05:09 (hours may pass 24: a team may run up to 168 hours)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _context(page: Page, v: teams.TeamView) -> dict:
    t = v.team
    me = v.seat_of(page.who.member_id if page.who else None)
    return {
        "v": v, "t": t, "me": me, "status_names": STATUS_NAMES, "poll_seconds": POLL_SECONDS,
        "share_url": str(page.request.base_url).rstrip("/") + f"/m/teams/{t.id}",
        "join_url": f"/m/checkout?sku={v.sku_id}&qty=1&team={t.id}",
        "open_url": f"/m/checkout?sku={v.sku_id}&qty=1&campaign={t.campaign_id}",
        "empty_seats": max(t.size - len(v.seats), 0), "countdown": clock_text(v.seconds_left),
    }


@router.get("/m/teams/{team_id}")
def team_page(team_id: Id, page: PageDep, s: DB, now: Now) -> Response:
    return page.render("campaigns/team.html", **_context(page, teams.team_view(s, team_id, now, page.who.member_id if page.who else None)))


@router.get("/m/teams/{team_id}/live")
def team_live(team_id: Id, page: PageDep, s: DB, now: Now) -> Response:
    """The team card alone, polled while the team is forming."""
    return page.render("campaigns/_team.html", **_context(page, teams.team_view(s, team_id, now, page.who.member_id if page.who else None)))
