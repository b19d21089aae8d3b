"""What commission contributes to a process (read by the composition root, ``linli.domains``).

The payout provider port (``payout.gateway``) keeps its default, the sandbox wallet, until
real rails are configured (issue 17 fills it here from Settings)."""

from __future__ import annotations

from linli.composition import Domain

DOMAIN = Domain("commission", modules=("models", "handlers", "jobs"), api=("api:router",), pages=("pages:router",))
