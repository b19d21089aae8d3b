"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event, text

from linli import __version__, domains, jobs, migrate
from linli import logging as linli_logging
from linli.channels.outbox import SmsSender
from linli.config import Settings, get_settings
from linli.events import Dispatcher
from linli.web import problems
from linli.web.context import AppContext, build_context
from linli.web.middleware import BodyLimit, EdgeSignals, RequestContext

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None, dispatcher: bool | None = None) -> FastAPI:
    """Build the app. ``dispatcher`` (default: embedded mode, no broker) runs the outbox,
    the SMS sender and the due jobs in-process, so ``linli serve`` alone is a complete system."""
    settings = settings or (ctx.settings if ctx else get_settings())
    domains.bootstrap(settings)
    ctx = ctx or build_context(settings)
    run_dispatcher = settings.dispatch_inline if dispatcher is None else dispatcher

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        migrate.require_current(ctx.db)  # refuse to answer on a schema behind the code
        # Sync endpoints run on this many threads of the event loop's pool (see Settings).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.endpoint_threads
        disp = scheduler = sender = None
        loops, wakers = [], []
        if run_dispatcher:
            loops = jobs.start_loops(ctx.db)
            sender = SmsSender(ctx.db, ctx.sms, clock=ctx.clock)
            sender.start()
            scheduler = jobs.Scheduler(ctx.db, interval=30.0)
            scheduler.start()
            disp = Dispatcher(ctx.db)
            wakers = [sender.on_commit, lambda session: disp.wake() if session.info.pop("linli_emitted", False) else None]
            # Writes commit through both factories: a read request that turned out to write
            # runs on a (promoted) reader session.
            for factory in (ctx.db.sessions, ctx.db.reader_sessions):
                for waker in wakers:
                    event.listen(factory, "after_commit", waker)
            disp.start()
            disp.wake()
        try:
            yield
        finally:
            jobs.stop_loops(loops)
            for factory in (ctx.db.sessions, ctx.db.reader_sessions):
                for waker in wakers:
                    event.remove(factory, "after_commit", waker)
            if sender is not None:
                sender.stop()
            if disp is not None:
                disp.stop()
                scheduler.stop()

    app = FastAPI(
        title="Linli 邻里 API",
        version=__version__,
        description="Community group-buying with social distribution. Amounts are integer fen; rates are basis points.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    problems.install(app)

    for d in domains.registered():
        for router in d.routers("api"):
            _mount(app, router)
    _install_ops(app, ctx)
    _install_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    app.mount("/media", StaticFiles(directory=media), name="media")
    app.add_middleware(EdgeSignals, secure=settings.is_production)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContext)
    return app


def _mount(app: FastAPI, router: APIRouter) -> None:
    """Put a domain router's routes on the app's own route list, in order.

    ``include_router`` (FastAPI 0.16x) keeps the router nested: every request is matched
    router by router, each building a per-inclusion context and juggling scope keys for
    every route it tries, which cost an eighth of a cheap request's CPU. The domains'
    routers carry their prefix and tags in their routes already and set nothing an
    inclusion would add (dependencies, responses, a response class), so their routes can
    stand on the app as they are. (They do not see ``app.dependency_overrides``.)"""
    plain = not (router.dependencies or router.responses or router.callbacks or router.on_startup or router.on_shutdown)
    if not (plain and all(isinstance(r, APIRoute) for r in router.routes)):
        app.include_router(router)
        return
    app.router.routes.extend(router.routes)


def _install_ops(app: FastAPI, ctx: AppContext) -> None:
    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    def healthz() -> JSONResponse:
        checks = {"database": "ok"}
        code = 200
        try:
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # report, do not raise: this is the probe
            checks["database"] = f"error: {exc.__class__.__name__}"
            code = 503
        if ctx.redis is not None:
            try:
                ctx.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {exc.__class__.__name__}"
                code = 503
        return JSONResponse({"status": "ok" if code == 200 else "degraded", "version": __version__, "checks": checks}, status_code=code)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Linli API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )


def _install_pages(app: FastAPI) -> None:
    """HTML pages (member H5 under /m/, merchant console under /console/): the shell's own
    routes, every domain's page routers (``linli/<domain>/domain.py``), then the pages' error
    handlers. Importing a domain's pages registers its merchant sections and order panels."""
    from linli.web import pages

    _mount(app, pages.shell)
    for d in domains.registered():
        for router in d.routers("pages"):
            _mount(app, router)
    pages.install_errors(app)


def main_app() -> FastAPI:
    """Entry point for ``uvicorn --factory linli.web.app:main_app`` (used by ``serve``)."""
    settings = get_settings()
    linli_logging.configure(settings.log_json)
    return create_app(settings)
