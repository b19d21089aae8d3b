"""The web shell of the HTML pages: language, CSRF, login guards, rendering, errors.

Domain pages (``linli.<domain>.pages``) declare routers whose handlers take a ``PageDep``
(request, language, CSRF token, caller), read a ``Form`` (CSRF-checked), call a service
inside ``attempt(s)`` and render a template. A ``DomainError`` becomes a friendly message
in the page, with the transaction of that use case rolled back (or kept, for errors that
keep their changes), never a 500. The app factory (``web/app.py``) mounts those routers;
this module imports no domain's pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from babel.support import Translations
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from linli import i18n, outages
from linli.errors import DomainError, Invalid, Unauthorized
from linli.i18n import N_
from linli.identity.service import Principal
from linli.security import csrf_matches, new_csrf_token
from linli.web import problems, templating
from linli.web.context import AppContext
from linli.web.deps import SESSION_COOKIE, principal_from_request
from linli.web.deps import router as deps_router

CSRF_COOKIE = "linli_csrf"
INVITE_COOKIE = "linli_invite"  # the invite code a neighbour arrived with, until they log in
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
YEAR = 365 * 24 * 3600

# Friendly texts for error codes (msgids; translated when shown). Domains add theirs.
_ERRORS: dict[str, str] = {
    "rate_limited": N_("Too many requests; please wait a moment and try again."),
    "auth.forbidden": N_("You are not allowed to do this."),
    "not_found": N_("Not found."),
    "input.nul_character": N_("The text contains a character that cannot be stored; please type it again."),
}


def error_messages(messages: dict[str, str]) -> None:
    _ERRORS.update(messages)


class CsrfRejected(Exception):
    """A POST without the double-submit token: answered 403, nothing is done."""


class LoginRequired(Exception):
    def __init__(self, login_url: str) -> None:
        self.login_url = login_url


def _ascii(value: Any) -> str | None:
    return value if isinstance(value, str) and value.isascii() and 0 < len(value) <= 128 else None


def safe_next(url: str | None, default: str) -> str:
    """A local path to go back to (never another site)."""
    # Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would leave the site.
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url and all(ord(c) > 32 for c in url):
        return url
    return default


@dataclass
class Page:
    request: Request
    ctx: AppContext
    locale: str
    csrf_token: str
    who: Principal | None = None
    new_csrf: bool = False
    drop_session: bool = False
    session_token: str | None = None
    translations: Translations = field(init=False)

    def __post_init__(self) -> None:
        self.translations = i18n.translations(self.locale)

    @property
    def lang_tag(self) -> str:
        return i18n.TAGS[self.locale]

    @property
    def here(self) -> str | None:
        """A GET address showing this page again (for the language switch and login), or
        None: after a POST that is the page the form was on (the same-site Referer)."""
        req = self.request
        url = req.url if req.method == "GET" else urlsplit(req.headers.get("referer", ""))
        if req.method != "GET" and url.netloc != req.url.netloc:
            return None
        return safe_next(url.path + (f"?{url.query}" if url.query else ""), "") or None

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    @property
    def show_debug_code(self) -> bool:
        return not self.ctx.settings.is_production

    def _(self, message: str) -> str:
        return self.translations.gettext(message)

    def error_text(self, exc: DomainError) -> str:
        if exc.code in _ERRORS:
            return self._(_ERRORS[exc.code])
        return self._(exc.detail or exc.title)

    def render(self, name: str, *, status: int = 200, error: DomainError | str | None = None, **context: Any) -> HTMLResponse:
        if isinstance(error, DomainError):
            status = exc_status = error.status
            error = self.error_text(error)
            context.setdefault("error_status", exc_status)
        html = templating.render(name, {"page": self, "translations": self.translations, "error": error, **context})
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        if self.is_htmx:  # a fetch would follow a 303 and swap the whole page into a card
            return self.finish(Response(status_code=200, headers={"HX-Redirect": url}))
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: Response) -> Response:
        secure = self.ctx.settings.is_production
        if self.new_csrf:
            response.set_cookie(CSRF_COOKIE, self.csrf_token, httponly=True, samesite="lax", secure=secure, path="/")
        if self.session_token:
            ttl = self.ctx.settings.token_ttl_seconds
            response.set_cookie(SESSION_COOKIE, self.session_token, max_age=ttl, httponly=True, samesite="lax", secure=secure, path="/")
        elif self.drop_session:
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def log_in(self, token: str) -> None:
        """The response will carry the session cookie and a fresh CSRF token."""
        self.session_token = token
        self.csrf_token, self.new_csrf = new_csrf_token(), True

    def log_out(self) -> None:
        self.drop_session = True


def bare_page(request: Request) -> Page:
    """A page without the caller (for error pages raised outside a handler)."""
    token = _ascii(request.cookies.get(CSRF_COOKIE))
    locale = i18n.negotiate(request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language"))
    return Page(request, request.app.state.ctx, locale, token or new_csrf_token(), new_csrf=token is None)


def _refuse_nul(values: Any) -> None:
    """No person types a NUL character, and PostgreSQL cannot store one in text (it would be
    a 500 deep in a handler): a page's query or form carrying one is refused up front."""
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise Invalid("input.nul_character", "The text contains a character that cannot be stored.")


def get_page(request: Request) -> Page:
    _refuse_nul(request.query_params.values())
    page = bare_page(request)
    try:
        page.who = principal_from_request(request)
    except Unauthorized:  # an expired or stale cookie: treat as logged out
        page.drop_session = True
    return page


async def csrf_form(request: Request) -> FormData:
    form = await request.form()
    cookie = _ascii(request.cookies.get(CSRF_COOKIE))
    sent = _ascii(form.get(CSRF_FIELD)) or _ascii(request.headers.get(CSRF_HEADER))
    if not csrf_matches(cookie, sent):
        raise CsrfRejected()
    _refuse_nul(form.values())
    return form


PageDep = Annotated[Page, Depends(get_page)]
Form = Annotated[FormData, Depends(csrf_form)]


def _login_url(page: Page, area: str) -> str:
    return f"/{area}/login" + (f"?next={quote(page.here)}" if page.here else "")


def _member(page: PageDep) -> Principal:
    if page.who is None:
        raise LoginRequired(_login_url(page, "m"))
    return page.who


def _staff(page: PageDep) -> Principal:
    if page.who is None:
        raise LoginRequired(_login_url(page, "console"))
    return page.who


MemberWho = Annotated[Principal, Depends(_member)]
ConsoleWho = Annotated[Principal, Depends(_staff)]


@contextmanager
def attempt(s: Session) -> Iterator[None]:
    """Run one use case in a savepoint, so a domain error leaves no partial state while
    the page still renders (errors with ``keep_changes`` keep theirs)."""
    sp = s.begin_nested()
    try:
        yield
    except DomainError as exc:
        sp.commit() if exc.keep_changes else sp.rollback()
        raise
    except BaseException:
        sp.rollback()
        raise
    sp.commit()


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- installation --------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith(("/api/", "/static/")):
        return False
    return request.headers.get("hx-request") == "true" or "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, message: str, code: str, *, retry_after: int | None = None) -> Response:
    """The error page (or, for htmx, the message in the page's flash area); ``code`` is the
    stable problem code the API would answer, in the page as ``data-code``. With
    ``retry_after`` a GET page reloads itself after that many seconds and offers a retry."""
    page = bare_page(request)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if page.is_htmx:  # show it in the page's message area, leave the rest as it is
        html = templating.render("partials/flash.html", {"page": page, "translations": page.translations, "error": message})
        return page.finish(HTMLResponse(html, status_code=status, headers={**headers, "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}))
    retry_url = str(request.url) if retry_after and request.method == "GET" else None
    response = page.render("error.html", status=status, error=message, error_status=status, error_code=code, retry_url=retry_url, retry_after=retry_after)
    response.headers.update(headers)
    return response


def install_errors(app: FastAPI) -> None:
    """The pages' error handlers, in front of the API's problem+json ones (installed first)."""
    api = dict(app.exception_handlers)

    async def on_domain(request: Request, exc: DomainError):
        if not _wants_html(request):
            return await api[DomainError](request, exc)
        return _error_response(request, exc.status, bare_page(request).error_text(exc), exc.code)

    async def on_http(request: Request, exc: StarletteHTTPException):
        if not _wants_html(request):
            return await api[StarletteHTTPException](request, exc)
        page = bare_page(request)
        message = page._(N_("Page not found.")) if exc.status_code == 404 else page._(N_("This request cannot be handled."))
        return _error_response(request, exc.status_code, message, problems.http_code(exc.status_code))

    async def on_validation(request: Request, exc: RequestValidationError):
        if not _wants_html(request):
            return await api[RequestValidationError](request, exc)
        # A page address with a malformed part (an id out of range, say) names no page.
        return _error_response(request, 404, bare_page(request)._(N_("Page not found.")), problems.http_code(404))

    async def on_unexpected(request: Request, exc: Exception):
        response = await api[Exception](request, exc)  # logs it; 503 when a dependency is down
        if not _wants_html(request):
            return response
        if response.status_code == 503:
            page = bare_page(request)
            message = page._(N_("The service is busy for a moment; this page tries again by itself."))
            code = json.loads(response.body)["code"]
            return _error_response(request, 503, message, code, retry_after=int(response.headers["Retry-After"]))
        return _error_response(request, 500, bare_page(request)._(N_("Something went wrong on our side; please try again later.")), "internal")

    async def on_csrf(request: Request, exc: CsrfRejected):
        page = bare_page(request)
        return _error_response(request, 403, page._(N_("This form has expired. Reload the page and try again.")), "csrf.rejected")

    async def on_login(request: Request, exc: LoginRequired):
        if request.headers.get("hx-request") == "true":
            return Response(status_code=200, headers={"HX-Redirect": exc.login_url})
        return RedirectResponse(exc.login_url, status_code=303)

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    for cls in (Exception, *outages.DEPENDENCY_ERRORS):
        app.add_exception_handler(cls, on_unexpected)
    app.add_exception_handler(CsrfRejected, on_csrf)
    app.add_exception_handler(LoginRequired, on_login)


shell = deps_router(include_in_schema=False)


@shell.get("/", response_class=HTMLResponse)
def landing(page: PageDep) -> Response:
    return page.render("index.html")


@shell.get("/lang/{tag}")
def switch_language(tag: str, request: Request) -> Response:
    """The header's 中文 / English links: remember the choice and go back."""
    locale = i18n.match(tag) or i18n.DEFAULT
    response = RedirectResponse(safe_next(request.query_params.get("next"), "/"), status_code=303)
    response.set_cookie(i18n.LANG_COOKIE, i18n.TAGS[locale], max_age=YEAR, samesite="lax", path="/")
    return response
