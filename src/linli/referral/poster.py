"""Share posters (分享海报): product picture, name, price, the sharer's nickname and a QR code
of their invite link, as a 750×1334 PNG (the size WeChat moments show well).

Chinese text needs a CJK font: ``LINLI_POSTER_FONT`` if set, else Noto Sans CJK from the
system (Debian: ``apt-get install fonts-noto-cjk``, which the README and CI install)."""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from linli import qr
from linli.money import format_yuan

W, H = 750, 1334
FONT_CANDIDATES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
]
BRAND = (232, 76, 61)


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def font_path() -> str:
    configured = os.environ.get("LINLI_POSTER_FONT")
    for candidate in ([configured] if configured else []) + FONT_CANDIDATES:
        if candidate and Path(candidate).exists():
            return candidate
    raise FontMissing("No CJK font found: install fonts-noto-cjk or set LINLI_POSTER_FONT")


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(), size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    lines, current = [], ""
    for ch in text:
        if draw.textlength(current + ch, font=font) > width:
            lines.append(current)
            current = ch
            if len(lines) == max_lines:
                break
        else:
            current += ch
    if current and len(lines) < max_lines:
        lines.append(current)
    return lines


def render(*, shop: str, product: str, price: int | None, nickname: str, link: str, picture: bytes | None = None) -> bytes:
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, W, 96], fill=BRAND)
    d.text((40, 24), shop, font=_font(40), fill=(255, 255, 255))
    area = (40, 130, W - 40, 130 + 670)
    if picture:
        try:
            pic = Image.open(io.BytesIO(picture)).convert("RGB")
            pic.thumbnail((area[2] - area[0], area[3] - area[1]))
            img.paste(pic, (area[0] + (area[2] - area[0] - pic.width) // 2, area[1] + (area[3] - area[1] - pic.height) // 2))
        except OSError:
            picture = None
    if not picture:
        d.rounded_rectangle(area, radius=24, fill=(253, 236, 234))
        d.text((W // 2, (area[1] + area[3]) // 2), (product.split() or [""])[0][:8], font=_font(64), fill=BRAND, anchor="mm")
    y = area[3] + 30
    for line in _wrap(d, product, _font(44), W - 80, 2):
        d.text((40, y), line, font=_font(44), fill=(34, 34, 34))
        y += 58
    if price is not None:
        d.text((40, y + 8), f"¥{format_yuan(price)}", font=_font(56), fill=BRAND)
    code = Image.open(io.BytesIO(qr.png(link, box_size=6, border=2))).convert("RGB").resize((220, 220), Image.NEAREST)
    img.paste(code, (W - 40 - 220, H - 40 - 220))
    d.text((40, H - 220), f"{nickname} 推荐给你", font=_font(36), fill=(34, 34, 34))
    d.text((40, H - 160), "长按识别二维码，和邻居一起买", font=_font(28), fill=(120, 120, 120))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
