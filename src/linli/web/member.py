"""The member H5's page furniture that domains add to each other's pages without importing
them: blocks on the shop and product pages (``@shop_block``: e.g. rewards' "领券") and
blocks at checkout (``@checkout_block``: e.g. rewards' coupon, points and stored value),
sections of referral's sharer centre (``@share_block``: incentives' 邀请奖励), blocks on its
invite landing (``@invite_block``: the reward an invited neighbour will get) and sections of
orders' leader desk (``@leader_block``: analytics' community figures).

The page that owns the place (catalog's shop and product pages, orders' checkout) calls
``shop_blocks`` / ``checkout_offers`` and shows what comes back; the contributing domain
registers its block when its pages module is imported (the app factory imports them), like
``web.console.merchant_section``. A checkout block posts the fields of ``CHECKOUT_FIELDS``
in the checkout form, which the checkout page reads with ``checkout_choice`` into the
order it places (the order's pricing step checks them again: the block is a preview)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.errors import Invalid
from linli.web.console import _registrar
from linli.web.forms import yuan_field
from linli.web.pages import Page


@dataclass(frozen=True)
class CartLine:
    sku_id: int
    product_id: int
    category: str | None
    qty: int
    unit_price: int  # fen, after any campaign price
    campaign_price: bool = False

    @property
    def amount(self) -> int:
        return self.unit_price * self.qty


@dataclass(frozen=True)
class Cart:
    """What the member is about to order, as the checkout page shows it."""

    merchant_id: int
    member_id: int
    lines: tuple[CartLine, ...]
    now: datetime
    campaign: bool = False  # priced by a campaign (which excludes coupons)

    @property
    def subtotal(self) -> int:
        return sum(ln.amount for ln in self.lines)


@dataclass(frozen=True)
class Offer:
    """A checkout block: its markup (inside the checkout form) and the rows it adds to the
    price summary, (translated label, fen taken off what the gateway collects)."""

    html: Markup
    rows: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def off(self) -> int:
        return sum(fen for _, fen in self.rows)


# (page, session, merchant id, product id or None on the shop page) -> HTML or None.
ShopBlock = Callable[[Page, Session, int, int | None], Markup | None]
# (page, session, merchant id, member id) -> HTML or None: a section of the sharer centre.
ShareBlock = Callable[[Page, Session, int, int], Markup | None]
# (page, session, merchant id) -> HTML or None: what the invite landing adds for the invitee.
InviteBlock = Callable[[Page, Session, int], Markup | None]
# (page, session, member id) -> HTML or None: a section of the leader desk (orders' /m/leader).
LeaderBlock = Callable[[Page, Session, int], Markup | None]
_share_blocks: list[tuple[int, ShareBlock]] = []
_leader_blocks: list[tuple[int, LeaderBlock]] = []
_invite_blocks: list[tuple[int, InviteBlock]] = []
# (page, session, cart, the checkout form's values; empty on the first view) -> Offer or None.
CheckoutBlock = Callable[[Page, Session, Cart, Mapping[str, str]], Offer | None]
_shop_blocks: list[tuple[int, ShopBlock]] = []
_checkout_blocks: list[tuple[int, CheckoutBlock]] = []

CHECKOUT_FIELDS = ("coupon_id", "points", "stored_value")


def shop_block(order: int) -> Callable[[ShopBlock], ShopBlock]:
    """Let a domain add a block to the shop and product pages (lower ``order`` first)."""
    return _registrar(_shop_blocks, order)


def checkout_block(order: int) -> Callable[[CheckoutBlock], CheckoutBlock]:
    """Let a domain add a block to the checkout (lower ``order`` first)."""
    return _registrar(_checkout_blocks, order)


def share_block(order: int) -> Callable[[ShareBlock], ShareBlock]:
    """Let a domain add a section to the sharer centre (lower ``order`` first)."""
    return _registrar(_share_blocks, order)


def leader_block(order: int) -> Callable[[LeaderBlock], LeaderBlock]:
    """Let a domain add a section to the leader desk (lower ``order`` first)."""
    return _registrar(_leader_blocks, order)


def leader_blocks(page: Page, s: Session, member_id: int) -> list[Markup]:
    return [html for _, fn in _leader_blocks if (html := fn(page, s, member_id)) is not None]


def invite_block(order: int) -> Callable[[InviteBlock], InviteBlock]:
    """Let a domain add a block to the invite landing (lower ``order`` first)."""
    return _registrar(_invite_blocks, order)


def share_blocks(page: Page, s: Session, merchant_id: int, member_id: int) -> list[Markup]:
    return [html for _, fn in _share_blocks if (html := fn(page, s, merchant_id, member_id)) is not None]


def invite_blocks(page: Page, s: Session, merchant_id: int) -> list[Markup]:
    return [html for _, fn in _invite_blocks if (html := fn(page, s, merchant_id)) is not None]


def shop_blocks(page: Page, s: Session, merchant_id: int, product_id: int | None = None) -> list[Markup]:
    return [html for _, fn in _shop_blocks if (html := fn(page, s, merchant_id, product_id)) is not None]


def checkout_offers(page: Page, s: Session, cart: Cart, values: Mapping[str, str]) -> list[Offer]:
    return [offer for _, fn in _checkout_blocks if (offer := fn(page, s, cart, values)) is not None]


@dataclass(frozen=True)
class Choice:
    coupon_id: int | None = None
    points: int = 0
    stored_value: int = 0  # fen


def checkout_choice(values: Mapping[str, str]) -> Choice:
    """The coupon, points and stored value (typed in 元) a checkout form asks for; a field
    left empty asks for none. Bad input is a domain error shown in the page."""
    raw_coupon = (values.get("coupon_id") or "").strip()
    coupon_id = None
    if raw_coupon and raw_coupon != "0":
        if not (raw_coupon.isascii() and raw_coupon.isdigit()) or len(raw_coupon) > 18:
            raise Invalid("coupon.not_found", "No such coupon.", field="coupon_id")
        coupon_id = int(raw_coupon)
    raw_points = (values.get("points") or "").strip()
    points = 0
    if raw_points:
        if not (raw_points.isascii() and raw_points.isdigit()) or len(raw_points) > 9:
            raise Invalid("points.format", "Enter the points as a whole number.", field="points")
        points = int(raw_points)
    raw_sv = (values.get("stored_value") or "").strip()
    stored_value = yuan_field(raw_sv, "stored_value.format") if raw_sv else 0
    return Choice(coupon_id, points, stored_value)
