"""Uploaded pictures: checked by decoding (not by the name or the declared type), size-
and pixel-limited, stored under the media folder with fresh unguessable names."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from linli.errors import Invalid

IMAGE_TYPES = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000


def store_image(data: bytes, media_dir: str, folder: str) -> str:
    """Check ``data`` and write it under ``media_dir/folder``; returns the relative path."""
    if not data:
        raise Invalid("media.empty", "The upload is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise Invalid("media.too_large", "A picture may be at most 5 MB.")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise Invalid("media.too_large", "The picture has too many pixels.")
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise Invalid("media.type", "Upload a JPEG, PNG or WebP picture.") from None
    ext = IMAGE_TYPES.get(fmt or "")
    if ext is None:
        raise Invalid("media.type", "Upload a JPEG, PNG or WebP picture.")
    rel = f"{folder.strip('/')}/{uuid.uuid4().hex}.{ext}"
    path = Path(media_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel
