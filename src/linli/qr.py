"""QR codes as PNG bytes (pickup codes now, invite posters later)."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def png(data: str, *, box_size: int = 8, border: int = 2) -> bytes:
    q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    q.add_data(data)
    q.make(fit=True)
    img = q.make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def pickup_payload(order_id: int, code: str) -> str:
    """What the leader's scanner reads: the order and its 6-digit code."""
    return f"linli:pickup:{order_id}:{code}"
