"""Campaign pages: the console's campaigns and live board, the member's campaign page,
the leader's campaign kit."""

from __future__ import annotations

from linli.web.deps import router as deps_router

router = deps_router(include_in_schema=False)
