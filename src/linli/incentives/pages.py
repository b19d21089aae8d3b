"""Incentives on the member H5: the sharer centre's 邀请奖励 section (``web.member.share_block``:
the programmes running, my referrals with the invitee's phone masked, their status and
reward, progress to the next milestone) and the invite landing's block (``invite_block``:
what a neighbour invited here gets after their first order)."""

from __future__ import annotations

from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.catalog import service as catalog
from linli.i18n import N_
from linli.incentives import programmes, referrals, rules
from linli.money import format_yuan
from linli.rewards import coupons
from linli.web import templating
from linli.web.deps import router as deps_router
from linli.web.member import invite_block, share_block
from linli.web.pages import Page, error_messages

router = deps_router(include_in_schema=False)

error_messages(
    {
        "programme.rewards_signup": N_("A programme may only reward a friend's first received order — never a sign-up, a share, a click or joining a group."),
        "programme.trigger_invalid": N_("The only trigger is the friend's first received order."),
        "programme.name_invalid": N_("A programme has a name of 1 to 40 characters."),
        "programme.dates_invalid": N_("The end must be after the start and in the future."),
        "programme.dates_out_of_range": N_("Dates fall in the years 2000 to 2100."),
        "programme.settings_invalid": N_("That value is outside what is allowed."),
        "programme.reward_required": N_("Reward the inviter, the friend or both."),
        "programme.reward_amount_invalid": N_("Enter a reward amount within the allowed range."),
        "programme.reward_template_required": N_("Choose the coupon."),
        "programme.reward_template_unknown": N_("Choose one of this shop's coupons."),
        "programme.reward_template_unavailable": N_("This coupon can no longer be given (deactivated, ended or all given)."),
        "programme.reward_gift_required": N_("Choose the gift."),
        "programme.reward_sku_unknown": N_("The gift is not a product of this shop."),
        "programme.milestones_invalid": N_("Milestones count 1 to 1000 friends, each more than the one before."),
        "programme.not_found": N_("No such programme."),
        "programme.ended": N_("This programme has ended."),
    }
)

STATUS = {"pending": N_("Reward pending"), "granted": N_("Reward granted"), "voided": N_("Reward void")}
VOID_REASONS = {"refunded": N_("the order was refunded below the minimum"), "monthly_cap": N_("this month's limit was reached"), "clawed_back": N_("withdrawn after a risk review")}
# a granted referral whose coupon the rewards domain refused (ProgrammeReward.failure)
NOT_GIVEN = N_("Reward not given")
FAILURES = {"coupon.sold_out": N_("the coupons ran out"), "coupon.ended": N_("the coupon has ended"), "coupon.inactive": N_("the coupon was withdrawn"),
            "stored_value.cap": N_("the stored-value card was at its 5,000 yuan limit")}


def reward_text(page: Page, s: Session, r: rules.Reward | None) -> str:
    """300 积分 · 储值赠金 ¥3 · 优惠券「…」 · 赠品「…」 (in the page's language)."""
    if r is None:
        return ""
    if r.kind == rules.Kind.points:
        return page._(N_("%(n)s points")) % {"n": r.amount}
    if r.kind == rules.Kind.stored_value_bonus:
        return page._(N_("¥%(amount)s stored value")) % {"amount": format_yuan(r.amount)}
    if r.kind == rules.Kind.gift and r.sku_id is not None:
        sku = catalog.sku_views(s, [r.sku_id]).get(r.sku_id)
        return page._(N_("Gift: %(name)s")) % {"name": f"{sku.product_name} {sku.sku_name}" if sku else ""}
    t = coupons.template_by_id(s, r.template_id) if r.template_id else None
    return page._(N_("Coupon: %(name)s")) % {"name": t.name if t is not None else ""}


def _render(page: Page, name: str, **context) -> Markup:
    return Markup(templating.render(name, {"page": page, "translations": page.translations, **context}))


@share_block(order=20)
def sharer_rewards(page: Page, s: Session, merchant_id: int, member_id: int) -> Markup | None:
    mine = referrals.mine(s, member_id, merchant_id, page.ctx.now())
    if not mine.programmes and not mine.referrals:
        return None
    text = lambda r: reward_text(page, s, r)  # noqa: E731
    return _render(page, "incentives/_share.html", mine=mine, reward_text=text, statuses=STATUS, void_reasons=VOID_REASONS, reward_of=programmes.reward_of,
                   not_given=NOT_GIVEN, failures=FAILURES)


@invite_block(order=20)
def invitee_reward(page: Page, s: Session, merchant_id: int) -> Markup | None:
    offers = [(p, programmes.reward_of(p.invitee_reward)) for p in programmes.running(s, merchant_id, page.ctx.now())]
    offers = [(p, r) for p, r in offers if r is not None]
    if not offers:
        return None
    return _render(page, "incentives/_invite.html", offers=offers, reward_text=lambda r: reward_text(page, s, r))
