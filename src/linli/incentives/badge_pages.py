"""Badges and the starter kit on the member H5: the sharer centre's 新手礼包 section
(``share_block`` 15: the coupon, the guide, the material kit, a dismiss button; shown until
dismissed or for 30 days) and its 我的徽章 section (``share_block`` 25: the badges held, the
progress to the others — 3 / 5 toward 社区推荐官 — and the recommender's privileges: the
group, a campaign code per open campaign, first access to trials), plus the recommender's
campaign-code page and the kit's dismissal."""

from __future__ import annotations

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.catalog import service as catalog
from linli.errors import DomainError
from linli.i18n import N_
from linli.incentives import badge_rules, badges, starter_kit
from linli.money import format_yuan
from linli.referral import service as referral
from linli.schema import Id
from linli.web import templating
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.member import share_block
from linli.web.pages import Form, MemberWho, Page, PageDep, attempt, error_messages

router = deps_router(include_in_schema=False)

error_messages(
    {
        "badge.recommender_only": N_("This is a privilege of the shop's community recommenders."),
        "badge.privileges_on_hold": N_("Your privileges wait until the shop's review of your account closes."),
        "badge.campaign_ended": N_("This campaign has ended."),
        "badge.sharer_required": N_("Campaign codes pay a sharer's commission: become a sharer first."),
        "badge.settings_invalid": N_("That value is outside what is allowed."),
        "badge.tiers_not_increasing": N_("Each GMV tier needs more than the one before it."),
        "badge.group_name_invalid": N_("Name the group (at most 40 characters)."),
        "badge.group_link_invalid": N_("A join link starts with https:// (at most 300 characters, no spaces)."),
        "badge.group_text_invalid": N_("How to join has at most 200 characters."),
        "starter.guide_invalid": N_("The guide has at most 2,000 characters."),
        "starter.template_unknown": N_("Choose one of this shop's coupons."),
        "starter.template_unavailable": N_("This coupon can no longer be given (deactivated, ended or all given)."),
        "starter.not_found": N_("You have no starter kit at this shop."),
    }
)

BADGE_NAMES = {
    "recommender": N_("Community recommender"),
    "first_sale": N_("First-sale star"),
    "gmv_bronze": N_("Bronze seller"),
    "gmv_silver": N_("Silver seller"),
    "gmv_gold": N_("Gold seller"),
}
PRIVILEGE_NAMES = {"trials_first": N_("First access to product trials"), "campaign_code": N_("A leader's code for campaigns"), "recommender_group": N_("The recommender group")}
STARTER_FAILURES = {"coupon.sold_out": N_("the coupons ran out"), "coupon.ended": N_("the coupon has ended"), "coupon.inactive": N_("the coupon was withdrawn")}
# The default guide (a merchant's own replaces it), one step a line.
DEFAULT_GUIDE = (
    N_("Send your invite link to your building's group and your friends: a neighbour who opens it and logs in joins through you."),
    N_("Save the share poster and add a line about what you really liked."),
    N_("When a neighbour's order is received, your commission is frozen; it becomes available once the after-sales window has passed."),
    N_("Share only what is true: no exaggeration, no promises, and no absolute words such as 最 or 第一."),
)


def badge_rule_text(page: Page, b: badge_rules.Badge) -> str:
    """How a badge is earned, in the page's language."""
    if b.metric == badge_rules.Metric.referrals:
        return page._(N_("%(n)s neighbours you invited rewarded within %(days)s days")) % {"n": b.threshold, "days": b.period_days}
    if b.metric == badge_rules.Metric.sales:
        return page._(N_("A first order you brought, received"))
    return page._(N_("¥%(amount)s of sales you brought, received and not refunded")) % {"amount": format_yuan(b.threshold)}


def _render(page: Page, name: str, **context) -> Markup:
    return Markup(templating.render(name, {"page": page, "translations": page.translations, **context}))


@share_block(order=15)
def starter_block(page: Page, s: Session, merchant_id: int, member_id: int) -> Markup | None:
    now = page.ctx.now()
    kit = starter_kit.mine(s, member_id, merchant_id, now)
    if kit is None or not kit.shown:
        return None
    code = referral.my_code(s, member_id, merchant_id, now).code
    products = catalog.public_products(s, merchant_id, limit=3)
    link = str(page.request.base_url).rstrip("/") + f"/i/{code}"
    guide = kit.guide.splitlines() if kit.guide else [page._(step) for step in DEFAULT_GUIDE]
    return _render(page, "incentives/_starter.html", kit=kit, merchant_id=merchant_id, link=link, products=products, guide=[g for g in guide if g.strip()], failures=STARTER_FAILURES)


@share_block(order=25)
def badges_block(page: Page, s: Session, merchant_id: int, member_id: int) -> Markup:
    now = page.ctx.now()
    mine = badges.mine(s, member_id, merchant_id, now)
    recommender = next((h for h in mine.held if h.badge.code == badge_rules.RECOMMENDER), None)
    toward = next((p for p in mine.progress if p.badge.code == badge_rules.RECOMMENDER), None)
    sharer = referral.sharer_status(s, merchant_id, member_id) == "active"
    open_campaigns = badges.open_campaigns(s, merchant_id, member_id, now) if recommender and sharer else []
    return _render(page, "incentives/_badges.html", mine=mine, recommender=recommender, toward=toward, campaigns=open_campaigns, sharer=sharer, merchant_id=merchant_id, names=BADGE_NAMES,
                   privileges=PRIVILEGE_NAMES, rule_text=lambda b: badge_rule_text(page, b), metric=badge_rules.Metric)


@router.post("/m/share/{mid}/starter-kit/dismiss")
def dismiss_kit(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    starter_kit.dismiss(s, who.member_id, mid, now)
    return page.redirect(f"/m/share/{mid}#invite")


def campaign_link(page: Page, campaign_id: int, code: str) -> str:
    """The campaign page through the code (the same link a leader's kit gives)."""
    return str(page.request.base_url).rstrip("/") + f"/m/campaigns/{campaign_id}?code={code}"


@router.get("/m/share/{mid}/recommender/campaigns/{cid}")
def recommender_code(mid: Id, cid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    """A 社区推荐官's code and link for a campaign; anyone else is told it is a privilege."""
    try:
        with attempt(s):
            campaign, code = badges.recommender_code(s, who.member_id, mid, cid, now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return page.render("incentives/recommender_code.html", status=exc.status, merchant_id=mid, refused=page.error_text(exc))
    link = campaign_link(page, cid, code.code)
    copy = page._(N_("【%(title)s】Neighbours, come and buy together through my link:")) % {"title": campaign.title}
    return page.render("incentives/recommender_code.html", merchant_id=mid, campaign=campaign, code=code.code, link=link, copy=f"{copy}\n{link}")
