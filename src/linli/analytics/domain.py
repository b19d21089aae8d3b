"""What analytics contributes to a process (read by the composition root, ``linli.domains``):
its rollup tables and the handlers that keep them from orders', referral's and community's
events, the dashboard endpoints and the console's dashboard. No ports: it reads orders,
referral, community and identity through their services, and no domain reads it."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("analytics", modules=("models", "handlers"), api=("api:router",), pages=("pages:router",))
