"""What rewards contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("rewards", modules=("models", "accounts"))
