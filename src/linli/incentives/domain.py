"""What incentives contributes to a process (read by the composition root, ``linli.domains``):
its tables and handlers, the programme, referral and badge endpoints, the console's programme
and badge pages and its sections of the sharer centre (邀请奖励, 新手礼包, 我的徽章) and the
invite landing. No ports: it reaches referral, orders, campaigns and rewards through their
services and events."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("incentives", modules=("models", "handlers", "jobs"), api=("api:router", "badge_api:router"),
                pages=("pages:router", "console_pages:router", "badge_pages:router", "badge_console_pages:router"))
