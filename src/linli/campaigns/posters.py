"""A campaign poster as a PNG response: the product's picture (when it has one), the
campaign title and price, the sharer's nickname and a QR code of their link — the leader
kit's preheat poster and a sharer's live-room poster alike."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.catalog import service as catalog
from linli.errors import DomainError, ServiceUnavailable
from linli.referral import poster


def _picture(s: Session, media_dir: str, product_id: int | None) -> bytes | None:
    if product_id is None:
        return None
    try:
        image = catalog.public_product(s, product_id).image
    except DomainError:  # archived since the offer was made
        return None
    path = Path(media_dir) / image if image else None
    return path.read_bytes() if path and path.is_file() else None


def poster_png(s: Session, media_dir: str, *, shop: str, title: str, product_id: int | None, price: int | None, nickname: str, link: str) -> Response:
    try:
        png = poster.render(shop=shop, product=title, price=price, nickname=nickname, link=link, picture=_picture(s, media_dir, product_id))
    except poster.FontMissing as exc:
        raise ServiceUnavailable("poster.font_missing", str(exc)) from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
