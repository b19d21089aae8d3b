"""Each SMS adapter against a local fake of its provider, which recomputes the signature
as the provider documents it and answers with the provider's own bodies."""

from __future__ import annotations

import logging

import pytest

from linli.channels.sms import InDoubt, Refused, SmsMessage, build_sms_channel
from linli.config import Settings
from tests.channels.fakes import SIGN_NAME, TEMPLATE, settings_for

MESSAGE = SmsMessage("13800001234", "otp", {"code": "042917"}, "sms-7")
KINDS = ["aliyun", "tencent", "webhook"]


def channel(kind: str, url: str, **override):
    return build_sms_channel(Settings(env="test", **{**settings_for(kind, url), **override}))


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_message_is_accepted_and_delivered(fake_provider, kind):
    fake = fake_provider(kind)
    sent = channel(kind, fake.url).send(MESSAGE)
    assert sent.provider_ref  # the provider's id (BizId, SerialNo, the gateway's id)
    assert fake.refusals == [] and len(fake.delivered) == 1
    got = fake.delivered[0]
    assert got.phone == "13800001234"
    assert got.params in ({"code": "042917"}, ["042917"])  # Tencent's parameters are a list, in template order
    if kind != "webhook":
        assert got.template == TEMPLATE


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_secret_fails_the_providers_signature_check(fake_provider, kind):
    fake = fake_provider(kind)
    secret = {"aliyun": "sms_access_key_secret", "tencent": "sms_access_key_secret", "webhook": "sms_webhook_secret"}[kind]
    with pytest.raises(Refused) as err:
        channel(kind, fake.url, **{secret: "not-the-secret-" + "x" * 30}).send(MESSAGE)
    assert not err.value.retryable and fake.delivered == []
    assert err.value.code == {"aliyun": "aliyun.SignatureDoesNotMatch", "tencent": "tencent.AuthFailure.SignatureFailure", "webhook": "webhook.http_401"}[kind]


def test_aliyun_signs_chinese_and_reserved_characters(fake_provider):
    """Percent-encoding per RFC 3986 (space as %20, * and / encoded) is what the signature
    covers; a sign name in Chinese and odd parameter values must still verify."""
    fake = fake_provider("aliyun")
    channel("aliyun", fake.url).send(SmsMessage("13800001234", "otp", {"code": "12 34*/~+&=", "name": "王姐"}, "sms-8"))
    assert fake.refusals == [] and fake.delivered[0].params == {"code": "12 34*/~+&=", "name": "王姐"}


@pytest.mark.parametrize(
    "kind, answer, code, retryable",
    [
        ("aliyun", "isp.SYSTEM_ERROR", "aliyun.isp.SYSTEM_ERROR", True),
        ("aliyun", "Throttling.User", "aliyun.Throttling.User", True),
        ("aliyun", "isv.BUSINESS_LIMIT_CONTROL", "aliyun.isv.BUSINESS_LIMIT_CONTROL", False),
        ("aliyun", "isv.AMOUNT_NOT_ENOUGH", "aliyun.isv.AMOUNT_NOT_ENOUGH", False),
        ("tencent", "InternalError.OtherError", "tencent.InternalError.OtherError", True),
        ("tencent", "RequestLimitExceeded", "tencent.RequestLimitExceeded", True),
        ("tencent", "LimitExceeded.PhoneNumberDailyLimit", "tencent.LimitExceeded.PhoneNumberDailyLimit", False),
        ("tencent", "FailedOperation.InsufficientBalanceInSmsPackage", "tencent.FailedOperation.InsufficientBalanceInSmsPackage", False),
        ("webhook", "503", "webhook.http_503", True),
        ("webhook", "429", "webhook.http_429", True),
        ("webhook", "400", "webhook.http_400", False),
    ],
)
def test_provider_refusals_say_whether_a_retry_can_help(fake_provider, kind, answer, code, retryable):
    fake = fake_provider(kind, [answer])
    with pytest.raises(Refused) as err:
        channel(kind, fake.url).send(MESSAGE)
    assert (err.value.code, err.value.retryable) == (code, retryable)
    assert fake.delivered == []


def test_the_providers_own_checks_refuse_a_wrong_sign_name(fake_provider):
    fake = fake_provider("tencent")
    with pytest.raises(Refused) as err:
        channel("tencent", fake.url, sms_sign_name="别家").send(MESSAGE)
    assert err.value.code == "tencent.FailedOperation.SignatureIncorrectOrUnapproved" and not err.value.retryable
    assert SIGN_NAME != "别家"


@pytest.mark.parametrize("kind", KINDS)
def test_no_answer_after_the_request_went_out_is_in_doubt(fake_provider, kind):
    fake = fake_provider(kind, ["drop"])
    with pytest.raises(InDoubt):
        channel(kind, fake.url).send(MESSAGE)
    assert fake.requests == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_provider_is_a_retryable_refusal(fake_provider, kind):
    fake = fake_provider(kind)
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(Refused) as err:
        channel(kind, closed).send(MESSAGE)
    assert err.value.retryable and err.value.code == "network.unreachable" and fake.requests == 0


def test_an_unknown_template_is_refused_for_good():
    with pytest.raises(Refused) as err:
        channel("aliyun", "http://127.0.0.1:9").send(SmsMessage("13800001234", "marketing", {}, "sms-9"))
    assert err.value.code == "template.unknown" and not err.value.retryable


def test_more_templates_by_name(fake_provider):
    fake = fake_provider("aliyun")
    ch = channel("aliyun", fake.url, sms_templates=f"pickup={TEMPLATE}")
    ch.send(SmsMessage("13800001234", "pickup", {"code": "A1"}, "sms-10"))
    assert len(fake.delivered) == 1


def test_the_log_channel_records_what_would_be_sent():
    ch = build_sms_channel(Settings(env="dev"))
    assert ch.name == "log"
    ch.send(MESSAGE)
    assert list(ch.sent) == [MESSAGE]


@pytest.mark.parametrize("kind", KINDS)
def test_no_log_line_carries_the_code_or_the_phone(fake_provider, kind, caplog):
    """Not even the HTTP client's own request lines, at its most verbose."""
    fake = fake_provider(kind)
    with caplog.at_level(logging.DEBUG):
        for name in ("httpx", "httpcore", "linli"):
            caplog.set_level(logging.DEBUG, logger=name)
        channel(kind, fake.url).send(MESSAGE)
    assert len(fake.delivered) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the HTTP client logged nothing: this test would prove nothing"
    assert "042917" not in logged and "13800001234" not in logged, logged


def test_the_log_configuration_keeps_the_http_clients_request_lines_out():
    from linli import logging as linli_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        linli_logging.configure(json_logs=True)
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
