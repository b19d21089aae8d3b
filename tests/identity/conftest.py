"""The WeChat fake (tests/identity/wechat_fake.py) served over real HTTP for the session,
fresh for every test that asks for it, and the apps the tests log in through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LiveServer
from tests.identity.wechat_fake import FakeWechat

MINI_APPID, MINI_SECRET = "wxd678efh567hg6787", "a" * 16 + "0123456789abcdef"
OA_APPID, OA_SECRET = "wx8888888888888888", "b" * 16 + "0123456789abcdef"


@pytest.fixture(scope="session")
def wechat_server() -> Iterator[FakeWechat]:
    fake = FakeWechat()
    server = LiveServer(fake.app).start()
    fake.url = server.url
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def wx(wechat_server: FakeWechat) -> FakeWechat:
    wechat_server.reset()
    wechat_server.add_app(MINI_APPID, MINI_SECRET)
    wechat_server.add_app(OA_APPID, OA_SECRET)
    return wechat_server


@pytest.fixture
def wx_settings(settings, wx: FakeWechat):
    """The test settings with WeChat at the fake (a test module overrides ``settings`` with it)."""
    return settings.model_copy(update={"wechat_api_base": wx.url, "wechat_open_base": wx.url})


def set_app(client, headers: dict, kind: str, appid: str, secret: str | None, merchant_id: int | None = None):
    path = f"/api/v1/merchants/{merchant_id}/wechat-apps/{kind}" if merchant_id else f"/api/v1/platform/wechat-apps/{kind}"
    return client.put(path, json={"appid": appid, **({"secret": secret} if secret is not None else {})}, headers=headers)
