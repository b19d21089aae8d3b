"""Production refuses to start without an SMS provider and its credentials: otherwise
nobody could ever log in (the code would be shown nowhere and sent nowhere)."""

from __future__ import annotations

import os

import pytest

from linli.channels.sms import build_sms_channel
from linli.config import ConfigError, Settings
from tests.kernel.test_ops import cli_env, free_port, linli

SECRETS = {"secret_key": "s" * 40, "payment_secret": "p" * 40}
ALIYUN = {"sms_access_key_id": "LTAI5t", "sms_access_key_secret": "secret", "sms_sign_name": "优邻优选", "sms_template_otp": "SMS_1"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("LINLI_"):
            monkeypatch.delenv(key)


def test_production_refuses_no_provider_or_the_log_channel():
    with pytest.raises(ConfigError, match="LINLI_SMS_PROVIDER must be one of aliyun, tencent, webhook"):
        Settings(env="production", **SECRETS)
    with pytest.raises(ConfigError, match="got log"):
        Settings(env="production", sms_provider="log", **SECRETS)


@pytest.mark.parametrize(
    "provider, given, missing",
    [
        ("aliyun", {}, "LINLI_SMS_ACCESS_KEY_ID, LINLI_SMS_ACCESS_KEY_SECRET, LINLI_SMS_SIGN_NAME, LINLI_SMS_TEMPLATE_OTP"),
        ("aliyun", {**ALIYUN, "sms_template_otp": " "}, "LINLI_SMS_TEMPLATE_OTP"),
        ("tencent", ALIYUN, "LINLI_SMS_SDK_APP_ID"),
        ("webhook", {"sms_webhook_secret": "w" * 40}, "LINLI_SMS_WEBHOOK_URL"),
    ],
)
def test_production_names_the_missing_credentials(provider, given, missing):
    with pytest.raises(ConfigError) as err:
        Settings(env="production", sms_provider=provider, **SECRETS, **given)
    assert str(err.value) == f"LINLI_SMS_PROVIDER={provider} needs {missing} in production"


def test_production_refuses_a_short_webhook_secret():
    with pytest.raises(ConfigError, match="LINLI_SMS_WEBHOOK_SECRET"):
        Settings(env="production", sms_provider="webhook", sms_webhook_url="https://sms.example/hook", sms_webhook_secret="short", **SECRETS)


def test_complete_configurations_start_and_build_their_adapter():
    for provider, extra in [("aliyun", ALIYUN), ("tencent", {**ALIYUN, "sms_sdk_app_id": "1400000000"})]:
        settings = Settings(env="production", sms_provider=provider, **SECRETS, **extra)
        assert build_sms_channel(settings).name == provider
    # Outside production nothing is needed: the log channel records the messages.
    assert Settings(env="dev").sms_channel == "log" and build_sms_channel(Settings(env="test")).name == "log"


def test_serve_refuses_production_without_an_sms_provider(tmp_path):
    env = cli_env(tmp_path, LINLI_ENV="production", LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db", LINLI_SECRET_KEY="s" * 40, LINLI_PAYMENT_SECRET="p" * 40)
    r = linli("serve", "--port", str(free_port()), env=env, cwd=tmp_path, timeout=60)
    out = " ".join((r.stdout + r.stderr).split())
    assert r.returncode != 0 and "Configuration refused" in out and "LINLI_SMS_PROVIDER" in out, out
