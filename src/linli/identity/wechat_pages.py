"""WeChat login in the H5 pages and the console's WeChat apps (filled in below)."""

from __future__ import annotations

from linli.web.deps import router as deps_router

router = deps_router(include_in_schema=False)
