"""The WeChat client against the fake, without an app: token expiry, outages, what an
error may carry."""

from __future__ import annotations

import socket

import pytest

from linli.errors import ServiceUnavailable
from linli.identity.wechat_client import AppKeys, WechatClient, WechatRefused
from tests.identity.conftest import MINI_APPID, MINI_SECRET
from tests.identity.wechat_fake import WxUser


def test_the_access_token_is_fetched_again_shortly_before_it_expires(wx):
    now = [1000.0]
    client = WechatClient(wx.url, clock=lambda: now[0])
    keys = AppKeys(MINI_APPID, MINI_SECRET)
    first = client.access_token(keys)
    now[0] += 7200 - 301
    assert client.access_token(keys) == first and wx.calls.count("/cgi-bin/stable_token") == 1
    now[0] += 2
    client.access_token(keys)
    assert wx.calls.count("/cgi-bin/stable_token") == 2
    client.close()


def test_the_session_key_and_the_secret_go_nowhere(wx):
    client = WechatClient(wx.url)
    user = client.code2session(AppKeys(MINI_APPID, MINI_SECRET), wx.login_code(MINI_APPID, WxUser()))
    assert set(vars(user)) == {"openid", "unionid", "snapshot"}
    assert MINI_SECRET not in repr(AppKeys(MINI_APPID, MINI_SECRET))
    with pytest.raises(WechatRefused) as refused:
        client.code2session(AppKeys(MINI_APPID, "e" * 32), wx.login_code(MINI_APPID, WxUser()))
    problem = str(refused.value.to_problem())
    assert refused.value.extra["wechat_errcode"] == 40125 and "e" * 32 not in problem and wx.url not in problem
    client.close()


def test_wechat_out_of_reach_is_an_outage():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = WechatClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ServiceUnavailable) as down:
        client.code2session(AppKeys(MINI_APPID, MINI_SECRET), "code")
    assert down.value.code == "identity.wechat_unavailable" and MINI_SECRET not in str(down.value.to_problem())
