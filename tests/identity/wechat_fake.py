"""A local fake of WeChat's login APIs, served over real HTTP (tests/identity/conftest.py).

Written from WeChat's documentation, independently of ``linli.identity.wechat_client``:

* ``GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`` →
  ``{openid, session_key, unionid?}``, as ``text/plain`` like the real one;
* ``POST /cgi-bin/stable_token`` ``{grant_type: client_credential, appid, secret}`` →
  ``{access_token, expires_in: 7200}`` (the same token while it lives: normal mode);
* ``POST /wxa/business/getuserphonenumber?access_token`` ``{code}`` → ``{errcode: 0,
  phone_info: {phoneNumber, purePhoneNumber, countryCode, watermark}}``;
* ``GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`` →
  ``{access_token, expires_in, refresh_token, openid, scope, unionid?, is_snapshotuser?}``
  (unionid only for ``snsapi_userinfo``, as the documentation says);
* ``GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state`` plays
  the WeChat browser of ``browser_user``: a 302 to ``redirect_uri?code=…&state=…``.

Refusals as WeChat answers them (HTTP 200, ``{errcode, errmsg}``): an unknown code or one of
another app 40029, a used code 40163, an unknown appid 40013, a wrong secret 40125, a stale
access token 40001. Codes are single-use. Test controls: ``busy`` (the next n answers are
errcode -1), ``down`` (the next n answers are HTTP 503) — both only for ``trouble_path``
when it is set —, ``revoke_tokens`` (the tokens given
so far are stale), ``calls`` (every path asked, in order)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route


@dataclass
class WxUser:
    """A WeChat user: one openid per app (made when first needed), the unionid of the
    merchant's open-platform account when the apps are bound to one, the bound phone."""

    phone: str = "13900001111"
    unionid: str | None = None
    country_code: str = "86"
    snapshot: bool = False  # a snapshot-page virtual account (is_snapshotuser=1)
    openids: dict[str, str] = field(default_factory=dict)


@dataclass
class _Code:
    kind: str  # login | phone | web
    appid: str
    user: WxUser
    scope: str = ""
    used: bool = False


def _json(body: dict, content_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=content_type)


def _error(errcode: int, errmsg: str) -> Response:
    return _json({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"})


class FakeWechat:
    def __init__(self) -> None:
        self.url = ""
        self.reset()
        self.app = Starlette(routes=[
            Route("/sns/jscode2session", self._code2session),
            Route("/sns/oauth2/access_token", self._web_token),
            Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
            Route("/wxa/business/getuserphonenumber", self._phone, methods=["POST"]),
            Route("/connect/oauth2/authorize", self._authorize),
        ])

    def reset(self) -> None:
        self.apps: dict[str, str] = {}
        self.codes: dict[str, _Code] = {}
        self.tokens: dict[str, str] = {}  # live access token → appid
        self.busy = 0
        self.down = 0
        self.trouble_path: str | None = None
        self.calls: list[str] = []
        self.browser_user: WxUser | None = None

    # --- test controls ---

    def add_app(self, appid: str, secret: str) -> None:
        self.apps[appid] = secret

    def openid(self, user: WxUser, appid: str) -> str:
        return user.openids.setdefault(appid, "o" + secrets.token_urlsafe(21)[:27])

    def _code(self, kind: str, appid: str, user: WxUser, scope: str = "") -> str:
        code = secrets.token_hex(16)
        self.codes[code] = _Code(kind, appid, user, scope)
        return code

    def login_code(self, appid: str, user: WxUser) -> str:
        """What ``wx.login`` gives the mini program."""
        return self._code("login", appid, user)

    def phone_code(self, appid: str, user: WxUser) -> str:
        """What the getPhoneNumber button gives the mini program."""
        return self._code("phone", appid, user)

    def web_code(self, appid: str, user: WxUser, scope: str = "snsapi_base") -> str:
        """What the web authorisation redirects an official-account page back with."""
        return self._code("web", appid, user, scope)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    # --- the API ---

    def _trouble(self, request: Request) -> Response | None:
        self.calls.append(request.url.path)
        if self.trouble_path not in (None, request.url.path):
            return None
        if self.down:
            self.down -= 1
            return Response("<html>503 Service Temporarily Unavailable</html>", status_code=503, media_type="text/html")
        if self.busy:
            self.busy -= 1
            return _error(-1, "system error")
        return None

    def _app_refusal(self, appid: str | None, secret: str | None) -> Response | None:
        if appid not in self.apps:
            return _error(40013, "invalid appid")
        if secret != self.apps[appid]:
            return _error(40125, "invalid appsecret")
        return None

    def _take(self, code: str | None, kind: str, appid: str) -> _Code | Response:
        c = self.codes.get(code or "")
        if c is None or c.kind != kind or c.appid != appid:
            return _error(40029, "invalid code")
        if c.used:
            return _error(40163, "code been used")
        c.used = True
        return c

    async def _code2session(self, request: Request) -> Response:
        q = request.query_params
        refused = self._trouble(request) or self._app_refusal(q.get("appid"), q.get("secret"))
        if refused:
            return refused
        if q.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        c = self._take(q.get("js_code"), "login", q["appid"])
        if isinstance(c, Response):
            return c
        body = {"session_key": secrets.token_urlsafe(18), "openid": self.openid(c.user, c.appid)}
        if c.user.unionid:
            body["unionid"] = c.user.unionid
        return _json(body, "text/plain")

    async def _web_token(self, request: Request) -> Response:
        q = request.query_params
        refused = self._trouble(request) or self._app_refusal(q.get("appid"), q.get("secret"))
        if refused:
            return refused
        c = self._take(q.get("code"), "web", q["appid"])
        if isinstance(c, Response):
            return c
        body = {"access_token": secrets.token_urlsafe(32), "expires_in": 7200, "refresh_token": secrets.token_urlsafe(32),
                "openid": self.openid(c.user, c.appid), "scope": c.scope}
        if c.user.unionid and c.scope == "snsapi_userinfo":
            body["unionid"] = c.user.unionid
        if c.user.snapshot:
            body["is_snapshotuser"] = 1
        return _json(body)

    async def _stable_token(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        refused = self._trouble(request) or self._app_refusal(body.get("appid"), body.get("secret"))
        if refused:
            return refused
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        live = next((t for t, a in self.tokens.items() if a == body["appid"]), None)
        if live is None:
            live = secrets.token_urlsafe(48)
            self.tokens[live] = body["appid"]
        return _json({"access_token": live, "expires_in": 7200})

    async def _phone(self, request: Request) -> Response:
        refused = self._trouble(request)
        if refused:
            return refused
        appid = self.tokens.get(request.query_params.get("access_token", ""))
        if appid is None:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        c = self._take(json.loads(await request.body() or b"{}").get("code"), "phone", appid)
        if isinstance(c, Response):
            return c
        u = c.user
        return _json({"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": u.phone if u.country_code == "86" else f"+{u.country_code}{u.phone}", "purePhoneNumber": u.phone,
            "countryCode": u.country_code, "watermark": {"timestamp": 1764633600, "appid": appid}}})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        self.calls.append(request.url.path)
        if q.get("appid") not in self.apps or q.get("response_type") != "code" or self.browser_user is None:
            return Response("参数错误", status_code=400)
        code = self.web_code(q["appid"], self.browser_user, q.get("scope", ""))
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return RedirectResponse(q["redirect_uri"] + sep + urlencode({"code": code, "state": q.get("state", "")}), status_code=302)
