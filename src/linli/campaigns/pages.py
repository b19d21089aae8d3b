"""Campaign pages: the console's campaigns and live board, the member's campaign page,
the leader's campaign kit (code, link, copy, preheat poster)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import quote

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.campaigns import rules, service
from linli.campaigns.live import board as live
from linli.campaigns.live import pages as live_pages
from linli.campaigns.live import sharers
from linli.campaigns.member_view import member_view
from linli.campaigns.models import Campaign
from linli.campaigns.posters import poster_png
from linli.catalog import service as catalog
from linli.community import service as community
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import format_yuan
from linli.referral import service as referral
from linli.schema import Id
from linli.timeutil import SHANGHAI, local_time
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Ctx, Now
from linli.web.deps import router as deps_router
from linli.web.forms import int_field, yuan_field
from linli.web.pages import ConsoleWho, Form, MemberWho, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "campaign.kind_invalid": N_("Choose a campaign type."),
        "campaign.title_invalid": N_("A title has 1 to 60 characters."),
        "campaign.window_invalid": N_("The end must come after the start."),
        "campaign.window_too_long": N_("A campaign runs at most 90 days."),
        "campaign.time_format": N_("Enter the start and end as a date and time."),
        "campaign.date_format": N_("Enter the promised date as a date, e.g. 2026-11-23."),
        "campaign.team_size_invalid": N_("A team has 2 to 50 members."),
        "campaign.team_hours_invalid": N_("A team's time limit is 1 to 168 hours."),
        "campaign.team_variant_invalid": N_("Choose a valid group-buy variant."),
        "campaign.tiers_invalid": N_("A threshold has 1 to 5 tiers, each with at least 2 orders and an amount off above zero."),
        "campaign.tiers_not_ascending": N_("Each tier needs more orders and more off than the one before."),
        "campaign.amount_format": N_("Enter the amount off in yuan with at most 2 decimals, e.g. 15 or 2.50."),
        "campaign.miss_policy_invalid": N_("Choose what happens when the minimum is not reached."),
        "campaign.promised_date_required": N_("A pre-sale promises a delivery or pickup date."),
        "campaign.promised_date_invalid": N_("The promised date cannot be before the cut-off."),
        "campaign.text_too_long": N_("The description and the leader copy have at most 2,000 characters each."),
        "campaign.not_found": N_("No such campaign."),
        "campaign.closed": N_("This campaign has ended; its offers can no longer change."),
        "campaign.too_many_offers": N_("A campaign has at most 50 offers."),
        "campaign.sku_unknown": N_("Choose an item this shop sells."),
        "campaign.price_invalid": N_("The campaign price must be above zero and not above the list price."),
        "campaign.quota_invalid": N_("A quota is at least 1 (leave it empty for no limit)."),
        "campaign.quota_required": N_("A flash sale sells a fixed number of units: set the quota."),
        "campaign.limit_invalid": N_("A per-member limit is at least 1 (leave it empty for none)."),
        "campaign.community_unknown": N_("Choose one of this shop's communities."),
        "campaign.leader_unknown": N_("Only a leader of one of this shop's communities can be named."),
        "campaign.team_one_offer": N_("A group-buy campaign sells one item at its team price."),
        # What a member may meet at checkout.
        "campaign.not_started": N_("This campaign has not started yet."),
        "campaign.ended": N_("This campaign has ended."),
        "campaign.cutoff_passed": N_("Orders for this pre-sale are closed: the cut-off has passed."),
        "campaign.sold_out": N_("This offer is sold out."),
        "campaign.member_limit": N_("You have reached the limit per person for this offer."),
        "campaign.community_only": N_("This offer is for neighbours of another community."),
        "campaign.code_required": N_("This offer is for neighbours who came in through their leader's invitation."),
        "campaign.sku_not_in_campaign": N_("This item is not part of the campaign."),
        "campaign.early_access_invalid": N_("Early access is 0 to 1,440 minutes (one day) before the start."),
        "poster.font_missing": N_("Posters cannot be drawn on this server yet (a Chinese font is missing)."),
    }
)

KIND_NAMES = {
    "live": N_("Live session"),
    "group_buy": N_("Group buy"),
    "threshold": N_("Community threshold"),
    "flash_sale": N_("Flash sale"),
    "presale": N_("Pre-sale"),
}
PHASE_NAMES = {"upcoming": N_("Starting soon"), "live": N_("On now"), "ended": N_("Ended")}
STATUS_NAMES = {"active": N_("Active"), "closing": N_("Settling"), "closed": N_("Closed"), "cancelled": N_("Cancelled")}
VARIANT_NAMES = {"standard": N_("Standard"), "leader_free": N_("Opener free (the opener's order is refunded when the team succeeds)")}
MISS_NAMES = {"proceed": N_("Proceed at the campaign price"), "cancel": N_("Cancel and refund every order")}
NAMES = {"kind_names": KIND_NAMES, "phase_names": PHASE_NAMES, "status_names": STATUS_NAMES, "variant_names": VARIANT_NAMES, "miss_names": MISS_NAMES}
TIER_ROWS = rules.MAX_TIERS
BOARD_POLL_SECONDS = 5
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends, in Shanghai time
CAMPAIGN_FIELDS = ("kind", "title", "starts_at", "ends_at", "description", "kit_copy", "team_size", "team_hours", "team_variant", "miss_policy", "promised_date", "promised_note", "early_access_minutes")
OFFER_FIELDS = ("sku_id", "price", "quota", "limit_per_member", "community_id", "leader_id", "label")


def _id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


def remaining(seconds: int, day_label: str = "d") -> str:
    """A countdown as the page first shows it (static/js/countdown.js then ticks it)."""
    days, rest = divmod(max(seconds, 0), 86400)
    h, rest = divmod(rest, 3600)
    clock = f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} {day_label} {clock}" if days else clock


templating.env.filters.setdefault("remaining", remaining)


# --- console: reading the forms ---------------------------------------------------------------


def _local(raw: str) -> datetime:
    try:
        return datetime.strptime(raw[:16], TIME_FORMAT).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
    except ValueError:
        raise Invalid("campaign.time_format", "Enter the start and end as a date and time.") from None


def _date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise Invalid("campaign.date_format", "Enter the promised date as a date.") from None


def _tiers(form: FormData) -> list[tuple[int, int]]:
    """Tier rows "minimum orders / 元 off per order" → [(orders, fen)]; empty rows ignored."""
    out = []
    for i in range(TIER_ROWS):
        orders, off = text(form, f"tier_orders_{i}"), text(form, f"tier_off_{i}")
        if not (orders or off):
            continue
        if not (orders and off):
            raise Invalid("campaign.tiers_invalid", "Each tier needs a minimum of orders and an amount off.", tier=i)
        out.append((int_field(orders), yuan_field(off, "campaign.amount_format")))
    return out


def _early_access(form: FormData) -> int:
    raw = text(form, "early_access_minutes")
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise Invalid("campaign.early_access_invalid", "Early access is a whole number of minutes.")
    return int(raw)


def _spec(form: FormData) -> rules.CampaignSpec:
    kind = text(form, "kind")
    fields: dict = {"kind": kind, "title": text(form, "title")[:200], "starts_at": _local(text(form, "starts_at")), "ends_at": _local(text(form, "ends_at")),
                    "early_access_minutes": _early_access(form)}
    if kind == rules.Kind.team:
        fields.update(team_size=int_field(text(form, "team_size"), required=False), team_hours=int_field(text(form, "team_hours"), required=False), team_variant=text(form, "team_variant") or None)
    elif kind == rules.Kind.threshold:
        fields.update(tiers=_tiers(form), miss_policy=text(form, "miss_policy") or None)
    elif kind == rules.Kind.presale:
        fields.update(promised_date=_date(text(form, "promised_date")))
    return rules.CampaignSpec(**fields)


def _offer_spec(form: FormData) -> service.OfferSpec:
    sku_id = _id(text(form, "sku_id"))
    if sku_id is None:
        raise Invalid("campaign.sku_unknown", "Choose an item this shop sells.")
    return service.OfferSpec(
        sku_id=sku_id, price=yuan_field(text(form, "price")), quota=int_field(text(form, "quota"), required=False),
        limit_per_member=int_field(text(form, "limit_per_member"), required=False), community_id=_id(text(form, "community_id")),
        leader_id=_id(text(form, "leader_id")), label=text(form, "label")[:80],
    )


def _page_error(exc: DomainError) -> bool:
    """Errors that are the whole page's (no such shop or campaign, not allowed), not a form's."""
    return exc.status == 403 or exc.code in ("merchant.not_found", "campaign.not_found")


def _values(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    values = {k: text(form, k) for k in names}
    values.update({k: text(form, k) for k in form.keys() if k.startswith("tier_")})
    return values


# --- console: campaigns ------------------------------------------------------------------------


def _defaults(now: datetime) -> dict[str, str]:
    start = now.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    return {"kind": "live", "starts_at": start.strftime(TIME_FORMAT), "ends_at": start.replace(hour=23, minute=0).strftime(TIME_FORMAT), "team_size": "3", "team_hours": "24", "miss_policy": "proceed"}


def _list(page: Page, s: Session, who: Principal, mid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    campaigns = service.list_campaigns(s, who, mid)
    phases = {c.id: rules.phase(c.starts_at, c.ends_at, c.status, now).value for c in campaigns}
    state = state or {}
    state.setdefault("create", _defaults(now))
    return page.render(
        "campaigns/console_list.html", status=status, view=view, campaigns=campaigns, phases=phases, state=state, tier_rows=TIER_ROWS,
        can_manage=view.can(Permission.manage_campaigns), section="campaigns", **NAMES,
    )


@router.get("/console/merchants/{mid}/campaigns")
def console_campaigns(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _list(page, s, who, mid, now)


@router.post("/console/merchants/{mid}/campaigns")
def create_campaign(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            c = service.create_campaign(
                s, who, mid, _spec(form), description=text(form, "description"), kit_copy=text(form, "kit_copy"),
                promised_note=text(form, "promised_note") if text(form, "kind") == rules.Kind.presale else None, now=now,
            )
    except DomainError as exc:
        if _page_error(exc):
            raise
        return _list(page, s, who, mid, now, state={"create": _values(form, CAMPAIGN_FIELDS), "create_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/campaigns/{c.id}")


def _leaders(s: Session, communities: list) -> list[tuple[int, str]]:
    """(member id, "nickname · community") of the shop's community leaders."""
    led = [(c.leader_member_id, c.name) for c in communities if c.leader_member_id]
    members = identity.members_by_ids(s, list({m for m, _ in led}))
    return [(m, f"{members[m].nickname} · {name}") for m, name in led if m in members]


def _detail(page: Page, s: Session, who: Principal, mid: int, cid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    b = live.board(s, who, mid, cid, now)
    can_manage = view.can(Permission.manage_campaigns)
    skus = []
    if can_manage:
        products = catalog.list_products(s, who, mid, include_archived=False)
        by_product = catalog.skus_of(s, [p.id for p in products])
        skus = [(k, p) for p in products for k in by_product[p.id]]
    communities = community.list_communities(s, who, mid)
    names = {cm.id: cm.name for cm in communities}
    leader_ids = {o.offer.leader_id for o in b.offers if o.offer.leader_id}
    leader_names = {m.id: m.nickname for m in identity.members_by_ids(s, list(leader_ids)).values()}
    return page.render(
        "campaigns/console_detail.html", status=status, view=view, board=b, c=b.campaign, state=state or {}, can_manage=can_manage, skus=skus,
        communities=communities, leaders=_leaders(s, communities), community_names=names, leader_names=leader_names, poll=BOARD_POLL_SECONDS,
        section="campaigns", **NAMES,
    )


@router.get("/console/merchants/{mid}/campaigns/{cid}")
def console_campaign(mid: Id, cid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _detail(page, s, who, mid, cid, now)


@router.get("/console/merchants/{mid}/campaigns/{cid}/board")
def console_board(mid: Id, cid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    """The live board alone, polled by the campaign page every few seconds."""
    view = merchant_view(s, who, mid)
    b = live.board(s, who, mid, cid, now)
    return page.render("campaigns/_board.html", view=view, board=b, c=b.campaign, poll=BOARD_POLL_SECONDS, **NAMES)


@router.post("/console/merchants/{mid}/campaigns/{cid}/early-access")
def set_early_access(mid: Id, cid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            service.set_early_access(s, who, mid, cid, _early_access(form), now)
    except DomainError as exc:
        if _page_error(exc):
            raise
        return _detail(page, s, who, mid, cid, now, state={"early": {"early_access_minutes": text(form, "early_access_minutes")}, "early_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/campaigns/{cid}#early-access")


@router.post("/console/merchants/{mid}/campaigns/{cid}/offers")
def add_offer(mid: Id, cid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            o = service.add_offer(s, who, mid, cid, _offer_spec(form), now)
    except DomainError as exc:
        if _page_error(exc):
            raise
        return _detail(page, s, who, mid, cid, now, state={"offer": _values(form, OFFER_FIELDS), "offer_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/console/merchants/{mid}/campaigns/{cid}#offer-{o.id}")


@merchant_section(order=25)
def campaigns_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    now = page.ctx.now()
    campaigns = [c for c in service.list_campaigns(s, page.who, view.merchant.id, limit=20) if c.status == "active" and c.ends_at > now]
    phases = {c.id: rules.phase(c.starts_at, c.ends_at, c.status, now).value for c in campaigns}
    context = {"page": page, "translations": page.translations, "view": view, "campaigns": campaigns[:5], "running": len(campaigns), "phases": phases, **NAMES}
    return Markup(templating.render("campaigns/_section.html", context))


# --- member H5: the campaign page ---------------------------------------------------------------


def _enter(page: Page, s: Session, member_id: int, c: Campaign, code: str | None, now: datetime) -> str | None:
    """Record the member's entry (with the code they came through); a code that is not
    valid here is said gently and the entry is recorded without it."""
    try:
        with attempt(s):
            service.enter(s, member_id, c.id, code, now)
    except DomainError as exc:
        if code is None:
            raise
        with attempt(s):
            service.enter(s, member_id, c.id, None, now)
        return page.error_text(exc)
    return None


def _inviter(s: Session, c: Campaign, code: str | None) -> str | None:
    """The nickname behind a code of this shop (what a visitor is told before logging in)."""
    if not code:
        return None
    try:
        ic = referral.resolve_code(s, code)
    except DomainError:
        return None
    return identity.get_member(s, ic.member_id).nickname if ic.merchant_id == c.merchant_id else None


def _hint(page: Page, o: service.OfferOut, view: service.CampaignView, communities: dict[int, str], leaders: dict[int, str]) -> str | None:
    """Why a logged-in member cannot take an offer (仅限云顶华府邻居 / 需通过团长邀请进入)."""
    of = o.offer
    if o.eligible:
        return None
    if of.community_id is not None and of.community_id != view.community_id:
        return page._(N_("Only for neighbours of %(community)s")) % {"community": communities.get(of.community_id, "")}
    if of.leader_id is not None:
        name = leaders.get(of.leader_id)
        return page._(N_("Enter through leader %(name)s's invitation to buy")) % {"name": name} if name else page._(N_("Enter through your leader's invitation to buy"))
    return None


def _threshold_text(page: Page, progress: dict | None) -> dict | None:
    if not progress or progress.get("community_id") is None:
        return None
    n, tier, ahead = progress["orders"], progress["tier"], progress["next_tier"]
    out = {"done": page._(N_("%(n)s neighbours in your community have ordered")) % {"n": n}, "next": None}
    off_now = tier[1] if tier else 0
    if ahead:
        out["next"] = page._(N_("%(m)s more orders and everyone gets another ¥%(off)s off")) % {"m": progress["orders_to_next"], "off": format_yuan(ahead[1] - off_now)}
    elif tier:
        out["next"] = page._(N_("Top tier reached: ¥%(off)s off every order")) % {"off": format_yuan(off_now)}
    return out


def _image(s: Session, product_id: int) -> str | None:
    try:
        return catalog.public_product(s, product_id).image
    except DomainError:  # archived since the offer was made
        return None


def _member_page(page: Page, s: Session, cid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    c = service.public_campaign(s, cid)
    merchant = identity.public_merchant(s, c.merchant_id)
    member_id = page.who.member_id if page.who else None
    code = (page.request.query_params.get("code") or "").strip()[:32] or None
    notice = _enter(page, s, member_id, c, code, now) if member_id is not None else None
    view = member_view(s, c.id, member_id, now)
    entry = service.entry_of(s, c.id, member_id) if member_id else None
    inviter = identity.get_member(s, entry.code_owner_id).nickname if entry and entry.code_owner_id else (None if member_id else _inviter(s, c, code))
    community_ids = {o.offer.community_id for o in view.offers if o.offer.community_id} | ({view.community_id} if view.community_id else set())
    communities = {i: community.public_community(s, i).name for i in community_ids}
    leader_names = {m.id: m.nickname for m in identity.members_by_ids(s, list({o.offer.leader_id for o in view.offers if o.offer.leader_id})).values()}
    offers = [{"o": o, "hint": _hint(page, o, view, communities, leader_names) if member_id else None} for o in view.offers]
    images = {p: _image(s, p) for p in {o.offer.product_id for o in view.offers}}
    leads = member_id is not None and any(cm.merchant_id == c.merchant_id for cm in community.communities_led_by(s, member_id))
    here = f"/m/campaigns/{c.id}" + (f"?code={quote(code)}" if code else "")
    room = {}
    if c.kind == rules.Kind.live:  # the sharer card and board (seed 003)
        room = {**live_pages.board_context(page, s, c.id, now), **(live_pages.sharer_context(page, s, c, now) if view.phase != "ended" else {})}
    return page.render(
        "campaigns/member.html", status=status, c=c, view=view, merchant=merchant, offers=offers, images=images, inviter=inviter, notice=notice, leads=leads,
        home=communities.get(view.community_id) if view.community_id else None, progress=_threshold_text(page, view.progress),
        login_url=f"/m/login?next={quote(here, safe='')}", state=state or {}, **room, **NAMES,
    )


@router.get("/m/campaigns/{cid}")
def campaign_page(cid: Id, page: PageDep, s: DB, now: Now) -> Response:
    """The campaign as a member sees it; ``?code=`` records the entry through a leader's
    code once the member is logged in (a visitor logs in and comes back here)."""
    return _member_page(page, s, cid, now)


@router.post("/m/campaigns/{cid}/sharer")
def become_sharer(cid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """一键成为分享官: apply by the shop's sharer mode (a second tap changes nothing), then
    back to the live page's sharer card; a refusal is shown there with its reason."""
    try:
        with attempt(s):
            st = sharers.become_sharer(s, who.member_id, cid, now)
    except DomainError as exc:
        if exc.code in ("campaign.not_found", "campaign.no_sharer_board", "merchant.not_found"):
            raise
        return _member_page(page, s, cid, now, state={"sharer_error": page.error_text(exc)}, status=exc.status)
    return page.redirect(f"/m/campaigns/{cid}?sharer={st.path.value}#sharer")


@router.get("/m/shop/{mid}/campaigns")
def shop_campaigns(mid: Id, page: PageDep, s: DB, now: Now) -> Response:
    """The shop page's strip of running and upcoming campaigns (loaded by htmx)."""
    identity.public_merchant(s, mid)
    campaigns = service.public_campaigns(s, mid, now, limit=10)
    phases = {c.id: rules.phase(c.starts_at, c.ends_at, c.status, now).value for c in campaigns}
    return page.render("campaigns/_shop_strip.html", campaigns=campaigns, phases=phases, **NAMES)


# --- member H5: the leader's campaign kit ------------------------------------------------------------


def kit_link(page: Page, campaign_id: int, code: str) -> str:
    return str(page.request.base_url).rstrip("/") + f"/m/campaigns/{campaign_id}?code={code}"


def _poster_offer(s: Session, c: Campaign, leader_id: int, now: datetime) -> service.OfferOut | None:
    """The offer a leader's poster shows: the cheapest one open to their neighbours."""
    mine = {cm.id for cm in community.communities_led_by(s, leader_id) if cm.merchant_id == c.merchant_id}
    view = member_view(s, c.id, None, now)
    ok = [o for o in view.offers if o.offer.leader_id in (None, leader_id) and (o.offer.community_id is None or o.offer.community_id in mine)]
    return min(ok or view.offers, key=lambda o: (o.offer.price, o.offer.id), default=None)


def _kit_copy(page: Page, c: Campaign, link: str) -> str:
    body = c.kit_copy or page._(N_("【%(title)s】starts %(time)s. Neighbours, come and buy together:")) % {"title": c.title, "time": local_time(c.starts_at, "%m-%d %H:%M")}
    return f"{body}\n{link}"


@router.get("/m/campaigns/{cid}/kit")
def kit(cid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    c = service.public_campaign(s, cid)
    merchant = identity.public_merchant(s, c.merchant_id)
    try:
        with attempt(s):
            code = referral.campaign_code(s, who.member_id, c.merchant_id, c.id, now)
    except DomainError as exc:
        if exc.status != 403:
            raise
        return page.render("campaigns/kit.html", status=403, c=c, merchant=merchant, refused=page.error_text(exc))
    link = kit_link(page, c.id, code.code)
    offer = _poster_offer(s, c, who.member_id, now)
    return page.render("campaigns/kit.html", c=c, merchant=merchant, code=code.code, link=link, copy=_kit_copy(page, c, link), offer=offer, **NAMES)


@router.get("/m/campaigns/{cid}/kit/poster.png")
def kit_poster(cid: Id, page: PageDep, s: DB, who: MemberWho, ctx: Ctx, now: Now) -> Response:
    """The preheat poster: the product picture, the campaign title and price, and a QR code
    of the leader's campaign link."""
    c = service.public_campaign(s, cid)
    code = referral.campaign_code(s, who.member_id, c.merchant_id, c.id, now)
    shop = identity.public_merchant(s, c.merchant_id)
    me = identity.get_member(s, who.member_id)
    offer = _poster_offer(s, c, who.member_id, now)
    return poster_png(
        s, ctx.settings.media_dir, shop=shop.name, title=c.title, product_id=offer.offer.product_id if offer else None,
        price=offer.offer.price if offer else None, nickname=me.nickname, link=kit_link(page, c.id, code.code),
    )
