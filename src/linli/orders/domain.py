"""What orders contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("orders", modules=("models", "handlers", "jobs"), api=("api:router",), pages=("member_pages:router", "leader_pages:router", "console_pages:router", "queue_pages:router"))
