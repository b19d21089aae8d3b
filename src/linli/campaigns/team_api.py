"""Team endpoints: ``GET /teams/{id}``."""

from __future__ import annotations

from linli.web.deps import router as deps_router

router = deps_router(prefix="/api/v1", tags=["campaigns"])
