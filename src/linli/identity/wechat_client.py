"""WeChat's login APIs over HTTP: mini-program code2Session, the phone number from the
phone-number code, the stable access token those need, and the official account's web
authorisation (网页授权) for H5 pages inside WeChat.

Endpoints (developers.weixin.qq.com):

* ``GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`` →
  ``{openid, session_key, unionid?}`` (小程序登录 auth.code2Session). The answer comes as
  ``text/plain``; ``session_key`` is dropped here — never stored, logged or returned.
* ``POST /cgi-bin/stable_token`` ``{grant_type: client_credential, appid, secret}`` →
  ``{access_token, expires_in}`` (getStableAccessToken; normal mode, so every process gets
  the same token and none invalidates another's). Cached per appid until five minutes
  before it expires, and fetched again once when WeChat calls it stale (40001/40014/42001).
* ``POST /wxa/business/getuserphonenumber?access_token`` ``{code}`` →
  ``{phone_info: {phoneNumber, purePhoneNumber, countryCode, watermark: {appid}}}``.
* ``GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`` →
  ``{access_token, openid, scope, unionid?, is_snapshotuser?}`` (snsAccessToken; unionid
  only for ``snsapi_userinfo``). The user's web token is not kept: we need the openid only.
* ``https://open.weixin.qq.com/connect/oauth2/authorize?appid&redirect_uri&response_type=code
  &scope&state#wechat_redirect`` is where the browser goes first (``authorize_url``).

WeChat answers HTTP 200 with ``{errcode, errmsg}`` when it refuses. Mapped to problems: an
invalid or used code (40029, 40163) → 401 ``identity.wechat_code_invalid``; system busy (-1),
the per-minute limit (45011), a timeout, a lost connection or a 5xx → 503
``identity.wechat_unavailable``; anything else, or an answer without what the documentation
promises → 502 ``identity.wechat_refused`` (with ``wechat_errcode``). No error message ever
carries a URL (the AppSecret travels in the query string) or an answer body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from linli.errors import DomainError, ServiceUnavailable, Unauthorized

API_BASE = "https://api.weixin.qq.com"
OPEN_BASE = "https://open.weixin.qq.com"
CODE_INVALID = frozenset({40029, 40163})  # invalid code; code been used
BUSY = frozenset({-1, 45011})  # system busy; minute quota reached
TOKEN_STALE = frozenset({40001, 40014, 42001})  # invalid credential / access token; expired
TOKEN_MARGIN_SECONDS = 300  # WeChat renews a stable token 5 minutes early; so do we


class WechatCodeInvalid(Unauthorized):
    code = "identity.wechat_code_invalid"
    title = "WeChat code invalid"


class WechatRefused(DomainError):
    status = 502
    code = "identity.wechat_refused"
    title = "Refused by WeChat"


def _unavailable(detail: str) -> ServiceUnavailable:
    return ServiceUnavailable("identity.wechat_unavailable", detail)


@dataclass(frozen=True)
class AppKeys:
    """A WeChat app's appid and its AppSecret (opened from the vault, held in memory only)."""

    appid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class WechatUser:
    """Who a login code names: the openid in that app, the unionid when WeChat gives one,
    and whether it is a snapshot-page virtual account (快照页模式, not a real user)."""

    openid: str
    unionid: str | None = None
    snapshot: bool = False


@dataclass(frozen=True)
class Phone:
    number: str  # purePhoneNumber: without the country code
    country_code: str


class WechatClient:
    """One client per process (``identity.ports.wechat``), shared by every app: the access
    tokens are cached per appid."""

    def __init__(self, api_base: str = API_BASE, open_base: str = OPEN_BASE, *, timeout: float = 5.0,
                 http: httpx.Client | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.api_base = api_base.rstrip("/")
        self.open_base = open_base.rstrip("/")
        self.timeout = timeout
        self._http = http
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        if self._http is None:  # not at import or wiring: most processes never call WeChat
            self._http = httpx.Client(timeout=self.timeout, headers={"User-Agent": "linli-wechat/1"})
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    # --- transport ---

    def _call(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object WeChat answered (errcode 0 or absent); errors mapped as above."""
        try:
            resp = self.http.request(method, self.api_base + path + (f"?{urlencode(query)}" if query else ""), json=body)
        except httpx.TimeoutException:
            raise _unavailable("WeChat did not answer in time.") from None
        except httpx.TransportError as exc:
            raise _unavailable(f"WeChat cannot be reached ({exc.__class__.__name__}).") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _unavailable(f"WeChat is unavailable (HTTP {resp.status_code}).")
        try:
            data = resp.json() if resp.status_code == 200 else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WechatRefused(detail=f"WeChat answered {path} with HTTP {resp.status_code} and no JSON object.")
        errcode = data.get("errcode") or 0
        if errcode in CODE_INVALID:
            raise WechatCodeInvalid(detail="The WeChat code is invalid, expired or already used; get a new one and try again.", wechat_errcode=errcode)
        if errcode in BUSY:
            raise _unavailable(f"WeChat is busy (errcode {errcode}); try again in a moment.")
        if errcode:
            raise WechatRefused(detail=f"WeChat refused {path} (errcode {errcode}).", wechat_errcode=errcode if isinstance(errcode, int) else None)
        return data

    @staticmethod
    def _text(data: dict[str, Any], key: str, what: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 64:
            raise WechatRefused(detail=f"WeChat's {what} answer has no usable {key}.")
        return value

    def _user(self, data: dict[str, Any], what: str) -> WechatUser:
        unionid = data.get("unionid")
        return WechatUser(self._text(data, "openid", what), self._text(data, "unionid", what) if unionid else None, data.get("is_snapshotuser") == 1)

    # --- the calls ---

    def code2session(self, app: AppKeys, code: str) -> WechatUser:
        """The mini-program user of a ``wx.login`` code (session_key is not kept)."""
        data = self._call("GET", "/sns/jscode2session", {"appid": app.appid, "secret": app.secret, "js_code": code, "grant_type": "authorization_code"})
        return self._user(data, "code2Session")

    def web_user(self, app: AppKeys, code: str) -> WechatUser:
        """The official-account user of a web-authorisation code."""
        data = self._call("GET", "/sns/oauth2/access_token", {"appid": app.appid, "secret": app.secret, "code": code, "grant_type": "authorization_code"})
        return self._user(data, "oauth2/access_token")

    def access_token(self, app: AppKeys) -> str:
        with self._lock:
            cached = self._tokens.get(app.appid)
        if cached and cached[1] > self.clock():
            return cached[0]
        data = self._call("POST", "/cgi-bin/stable_token", {}, {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret})
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            raise WechatRefused(detail="WeChat's stable_token answer has no usable access_token.")
        with self._lock:
            self._tokens[app.appid] = (token, self.clock() + max(0, expires_in - TOKEN_MARGIN_SECONDS))
        return token

    def _forget_token(self, appid: str) -> None:
        with self._lock:
            self._tokens.pop(appid, None)

    def phone_number(self, app: AppKeys, phone_code: str) -> Phone:
        """The phone number a mini program's phone-number code (getPhoneNumber) stands for."""
        for attempt in range(2):
            try:
                data = self._call("POST", "/wxa/business/getuserphonenumber", {"access_token": self.access_token(app)}, {"code": phone_code})
                break
            except WechatRefused as exc:
                if attempt or exc.extra.get("wechat_errcode") not in TOKEN_STALE:
                    raise
                self._forget_token(app.appid)  # revoked or refreshed elsewhere: fetch it once more
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise WechatRefused(detail="WeChat's getuserphonenumber answer has no phone_info.")
        return Phone(self._text(info, "purePhoneNumber", "getuserphonenumber"), str(info.get("countryCode") or ""))

    def authorize_url(self, appid: str, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
        """Where the WeChat browser asks the user (silently for snsapi_base) and comes back
        to ``redirect_uri`` with ``code`` and ``state``."""
        query = urlencode({"appid": appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope, "state": state})
        return f"{self.open_base}/connect/oauth2/authorize?{query}#wechat_redirect"
