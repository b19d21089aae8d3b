"""What incentives contributes to a process (read by the composition root, ``linli.domains``):
its tables and handlers, the programme and referral endpoints, the console's programme pages
and its sections of the sharer centre and the invite landing. No ports: it reaches referral,
orders and rewards through their services and events."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("incentives", modules=("models", "handlers", "jobs"), api=("api:router",), pages=("pages:router", "console_pages:router"))
