"""Member pages of a group-buy team: the team page a member shares."""

from __future__ import annotations

from linli.web.deps import router as deps_router

router = deps_router(include_in_schema=False)
