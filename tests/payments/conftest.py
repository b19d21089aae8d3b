"""The WeChat Pay fake served over real HTTP on 127.0.0.1, and clients pointed at it.

Key pairs are generated here (RSA 2048, once per session), never committed: the
merchant's API key (the fake checks our requests with its public half) and WeChat Pay's
platform key (the fake signs with it; our client verifies with its public half)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from linli.payments.providers.wechatpay import WechatPay, WechatPayCredentials
from tests.e2e.conftest import LiveServer
from tests.payments.fakes.alipay_fake import APP_ID, AlipayFake, new_key
from tests.payments.fakes.wechatpay_fake import FakeWechatPay

MCHID, SERIAL, APPID = "1900000109", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "wxd678efh567hg6787"
SP_MCHID, SP_APPID, SUB_MCHID, SUB_APPID = "1900000100", "wx8888888888888888", "1900000122", "wxd678efh567hg6999"
APIV3_KEY = "a7cde1ef4f1f4f5b9c0e1d2c3b4a5f6e"  # 32 bytes


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="session")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Current:
    """One server for the session, serving the fake of the test running now (a fresh fake
    each test; starting and stopping uvicorn per test would cost more than the tests)."""

    def __init__(self) -> None:
        self.fake: FakeWechatPay | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await self.fake.app(scope, receive, send)


@pytest.fixture(scope="session")
def wechatpay_server() -> Iterator[tuple[LiveServer, _Current]]:
    current = _Current()
    server = LiveServer(current).start()
    try:
        yield server, current
    finally:
        server.stop()


@pytest.fixture
def fake(merchant_key, platform_key, wechatpay_server) -> Iterator[FakeWechatPay]:
    server, current = wechatpay_server
    f = FakeWechatPay(platform_key, APIV3_KEY)
    f.add_merchant(MCHID, SERIAL, merchant_key.public_key())
    f.add_merchant(SP_MCHID, SERIAL, merchant_key.public_key(), sub_mchids=(SUB_MCHID,))
    f.url = server.url
    current.fake = f
    try:
        yield f
    finally:
        current.fake = None


def credentials(fake: FakeWechatPay, merchant_key, *, partner: bool = False, sub_appid: str = "", **over) -> WechatPayCredentials:
    base = dict(mchid=SP_MCHID if partner else MCHID, serial_no=SERIAL, private_key=pem(merchant_key), apiv3_key=APIV3_KEY,
                appid=SP_APPID if partner else APPID, notify_url="https://shop.example.cn/wechatpay/notify",
                public_key_id=fake.public_key_id, public_key=fake.public_key_pem(), base_url=fake.url,
                sub_mchid=SUB_MCHID if partner else "", sub_appid=sub_appid)
    base.update(over)
    return WechatPayCredentials(**base)


@pytest.fixture
def wx(fake, merchant_key) -> Iterator[WechatPay]:
    client = WechatPay(credentials(fake, merchant_key))
    try:
        yield client
    finally:
        client.http.close()


@pytest.fixture
def wx_partner(fake, merchant_key) -> Iterator[WechatPay]:
    client = WechatPay(credentials(fake, merchant_key, partner=True, sub_appid=SUB_APPID))
    try:
        yield client
    finally:
        client.http.close()


# --- payment accounts as the console enters them (tests/payments/test_accounts.py, test_rails*.py) ---

def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def wechat_direct(merchant_key, platform_key, *, mchid: str = MCHID, appid: str = APPID, **over) -> dict:
    """A WeChat Pay direct account (the body of PUT …/payment-accounts/wechatpay)."""
    from tests.payments.fakes.wechatpay_fake import PUBLIC_KEY_ID

    return {"mode": "direct", "mchid": mchid, "appid": appid, "serial_no": SERIAL, "public_key_id": PUBLIC_KEY_ID,
            "public_key": public_pem(platform_key), "private_key": pem(merchant_key), "apiv3_key": APIV3_KEY, **over}


# --- the Alipay fake, served over HTTP per module (its app key made per run) ---


@pytest.fixture(scope="module")
def ali_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def ali_served(ali_key):
    fake = AlipayFake(APP_ID, ali_key.public_key())
    server = LiveServer(fake.app()).start()
    fake.url = server.url
    yield fake
    fake.release()
    server.stop()


@pytest.fixture
def ali(ali_served) -> AlipayFake:
    ali_served.reset()
    return ali_served
