"""Production: no sandbox gateway, and no start with a stored credential that cannot be
opened (another vault key) or does not parse — named by merchant and provider, never shown."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from linli import domains, vault
from linli.commission import payout
from linli.config import ConfigError, Settings
from linli.payments import accounts
from linli.payments.gateway import payment_gateway
from linli.payments.models import PaymentAccount
from tests.payments.conftest import APIV3_KEY, wechat_direct


def _production(db, **over) -> Settings:
    values = {"public_url": "https://shop.example.cn", **over}
    return Settings(env="production", database_url=db.url, secret_key="s" * 40, payment_secret="p" * 40, sms_provider="webhook",
                    sms_webhook_url="https://sms.example.cn/send", sms_webhook_secret="w" * 40, **values)


@pytest.fixture
def production(db):
    yield lambda **over: domains.bootstrap(_production(db, **over))
    domains.bootstrap(Settings(env="test", plugins="tests.plugin"))


def test_production_has_no_sandbox_and_refuses_credentials_it_cannot_use(db, merchant, merchant_key, platform_key, clock, production):
    with db.transaction() as s:
        accounts.save(s, merchant.id, "wechatpay", "direct", wechat_direct(merchant_key, platform_key), clock())
    production()
    assert payment_gateway.get() is None and payout.gateway.get() is None  # no sandbox wallet either: withdrawals need a real rail
    with pytest.raises(ConfigError) as refused:  # sealed under the test deployment's key, not this one's
        accounts.require_usable(db, _production(db))
    assert f"merchant {merchant.id}: wechatpay" in str(refused.value) and APIV3_KEY not in str(refused.value)
    with db.transaction() as s:
        s.execute(update(PaymentAccount).values(secrets_sealed=vault.seal(json.dumps({"private_key": "junk", "apiv3_key": APIV3_KEY}))))
    with pytest.raises(ConfigError, match=f"merchant {merchant.id}: wechatpay"):
        accounts.require_usable(db, _production(db))
    with db.transaction() as s:
        s.execute(update(PaymentAccount).values(secrets_sealed=vault.seal(json.dumps({"private_key": wechat_direct(merchant_key, platform_key)["private_key"], "apiv3_key": APIV3_KEY}))))
    accounts.require_usable(db, _production(db))  # usable: it starts
    with pytest.raises(ConfigError, match="LINLI_PUBLIC_URL"):
        accounts.require_usable(db, _production(db, public_url=""))
