"""The app's routes as (full path, route), whatever FastAPI version is installed.

FastAPI 0.16x keeps included routers nested (``app.routes`` holds ``_IncludedRouter``s, not
the APIRoutes), so a test that filters ``app.routes`` for ``APIRoute`` silently finds none;
``fastapi.routing.iter_route_contexts`` walks them with their prefixes.
"""

from __future__ import annotations

from fastapi.routing import APIRoute


def api_routes(app) -> list[tuple[str, APIRoute]]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: the list is flat
        return [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    return [(c.path, c.original_route) for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
