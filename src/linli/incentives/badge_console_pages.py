"""Console: badges and the starter kit ``/console/merchants/{mid}/badges`` — the thresholds
(社区推荐官's referrals in 90 days, the GMV tiers in yuan; bounds from ``badge_rules.SETTINGS``)
and the recommender group, the starter kit (its coupon and guide), the holders of each badge
and the last nightly check — plus a merchant-page section.

Each form posts on its own and is one use case in a savepoint: what cannot be read is an
error on its field and the page comes back with what was typed (4xx)."""

from __future__ import annotations

from datetime import datetime

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.incentives import badge_backfill, badge_rules, badges
from linli.incentives.badge_pages import BADGE_NAMES, DEFAULT_GUIDE, badge_rule_text
from linli.money import format_yuan
from linli.rewards import coupons
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.forms import yuan_field
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages({"badge.number_format": N_("Enter a whole number."), "badge.amount_format": N_("Enter an amount in yuan with at most 2 decimals, e.g. 1000 or 99.90.")})

SOURCES = {"event": N_("when it happened"), "backfill": N_("by the nightly check")}
TEXT_FIELDS = ("group_name", "group_link", "group_text")


def _url(mid: int) -> str:
    return f"/console/merchants/{mid}/badges"


@merchant_section(order=38)
def badges_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    counts = badges.counts(s, view.merchant.id)
    return Markup(templating.render("incentives/_badges_section.html", {"page": page, "translations": page.translations, "view": view, "counts": counts, "names": BADGE_NAMES,
                                                                        "codes": badge_rules.CODES}))


def _whole(raw: str, field: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Invalid("badge.number_format", "Enter a whole number.", field=field)
    return int(raw)


def _yuan(raw: str, field: str) -> int:
    try:
        return yuan_field(raw, "badge.amount_format")
    except Invalid as exc:
        exc.extra["field"] = field
        raise


def _page(page: Page, s: Session, who: Principal, mid: int, now: datetime, *, state: dict | None = None, status: int = 200) -> Response:
    view = merchant_view(s, who, mid)
    state = state or {}
    cfg = badges.settings(s, who, mid)
    values = {"recommender_referrals": str(cfg.recommender_referrals), **{t: format_yuan(getattr(cfg, t)) for t in badge_rules.TIERS},
              **{k: getattr(cfg, k) for k in TEXT_FIELDS}, "starter_template_id": str(cfg.starter_template_id or ""), "starter_guide": cfg.starter_guide}
    values.update(state.get("values") or {})
    chosen = page.request.query_params.get("badge")
    chosen = chosen if chosen in badge_rules.CODES else None
    return page.render(
        "incentives/console_badges.html", status=status, view=view, state=state, f=values, can_manage=view.can(Permission.manage_campaigns), names=BADGE_NAMES,
        catalogue=badge_rules.catalogue(badges.thresholds(cfg)), rule_text=lambda b: badge_rule_text(page, b), holders=badges.holders(s, who, mid, chosen), chosen=chosen,
        counts=badges.counts(s, mid), codes=badge_rules.CODES, sources=SOURCES, templates=[st.template for st in coupons.template_stats(s, who, mid, now) if st.template.active],
        default_guide=DEFAULT_GUIDE, check=badge_backfill.last_check(s, mid), knob=badge_rules.SETTINGS, saved=page.request.query_params.get("saved", ""),
    )


@router.get("/console/merchants/{mid}/badges")
def console_badges(mid: Id, page: PageDep, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _page(page, s, who, mid, now)


def _refused(page: Page, s: Session, who: Principal, mid: int, now: datetime, form: str, values: dict, exc: DomainError) -> Response:
    if exc.code == "merchant.not_found":
        raise exc
    field = exc.extra.get("field")
    return _page(page, s, who, mid, now, state={"form": form, "values": values, "error": page.error_text(exc), "field": field, "inline": field in values}, status=exc.status)


@router.post("/console/merchants/{mid}/badges/settings")
def save_settings(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """The thresholds and the recommender group."""
    values = {"recommender_referrals": text(form, "recommender_referrals")[:12], **{t: text(form, t)[:16] for t in badge_rules.TIERS},
              **{k: text(form, k)[:400] for k in TEXT_FIELDS}}
    try:
        with attempt(s):
            changes = {"recommender_referrals": _whole(values["recommender_referrals"], "recommender_referrals"), **{t: _yuan(values[t], t) for t in badge_rules.TIERS},
                       **{k: values[k] for k in TEXT_FIELDS}}
            badges.configure(s, who, mid, changes, now)
    except DomainError as exc:
        return _refused(page, s, who, mid, now, "settings", values, exc)
    return page.redirect(f"{_url(mid)}?saved=settings#settings")


@router.post("/console/merchants/{mid}/badges/starter-kit")
def save_starter_kit(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    """The starter kit's coupon (none: the kit without a coupon) and guide (empty: the default)."""
    values = {"starter_template_id": text(form, "starter_template_id")[:18], "starter_guide": text(form, "starter_guide")[: badge_rules.GUIDE_MAX + 1]}
    try:
        with attempt(s):
            raw = values["starter_template_id"]
            badges.configure(s, who, mid, {"starter_template_id": _whole(raw, "starter_template_id") if raw else None, "starter_guide": values["starter_guide"]}, now)
    except DomainError as exc:
        return _refused(page, s, who, mid, now, "starter", values, exc)
    return page.redirect(f"{_url(mid)}?saved=starter#starter-kit")
