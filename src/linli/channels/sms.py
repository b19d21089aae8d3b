"""The SMS port: what a channel is asked to send, what it answers, and the factory that
builds the configured adapter from ``Settings``.

A message is a phone, a template *name* (``otp``, later marketing templates) and its
parameters; each adapter maps the name to the provider's template (``LINLI_SMS_TEMPLATE_OTP``,
``LINLI_SMS_TEMPLATES``). An adapter answers ``Sent`` or raises:

* ``Refused`` — the provider definitely did not send it (an error answer, or the request
  never left: connection refused, DNS, TLS). ``retryable`` says whether trying again can help.
* ``InDoubt`` — the request went out but no answer came back (read timeout, dropped
  connection, an unreadable answer). It may have been sent: the outbox does not resend it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from linli.config import Settings


@dataclass(frozen=True)
class SmsMessage:
    phone: str  # 11-digit mainland China mobile number
    template: str  # a template name, e.g. "otp"
    params: dict[str, str] = field(default_factory=dict)  # in template order (Tencent uses the order)
    ref: str = ""  # our id for the message (idempotency key for receivers that dedupe)


@dataclass(frozen=True)
class Sent:
    provider_ref: str = ""  # the provider's id (Aliyun BizId, Tencent SerialNo, …)


class SmsError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class Refused(SmsError):
    """Definitely not sent."""

    def __init__(self, code: str, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(code, detail)
        self.retryable = retryable


class InDoubt(SmsError):
    """The request went out and its outcome is unknown."""


class SmsChannel(Protocol):
    name: str

    def send(self, message: SmsMessage) -> Sent: ...


def template_code(templates: dict[str, str], name: str) -> str:
    code = templates.get(name)
    if not code:
        raise Refused("template.unknown", f"no provider template configured for {name!r}")
    return code


def e164(phone: str) -> str:
    return phone if phone.startswith("+") else "+86" + phone


def post(client: httpx.Client, url: str, **kw) -> httpx.Response:
    """POST, telling a request that never left (retryable) from one whose answer was lost."""
    try:
        return client.post(url, **kw)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise Refused("network.unreachable", exc.__class__.__name__, retryable=True) from exc
    except httpx.HTTPError as exc:  # timeout or disconnect after the request was written
        raise InDoubt("network.no_answer", exc.__class__.__name__) from exc


def json_body(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise InDoubt("provider.unreadable", f"HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise InDoubt("provider.unreadable", f"HTTP {response.status_code}, not a JSON object")
    return body


def http_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    t = settings.sms_timeout_seconds
    return httpx.Client(timeout=httpx.Timeout(t, connect=min(t, 5.0)), transport=transport, follow_redirects=False)


def build_sms_channel(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> SmsChannel:
    """The adapter ``LINLI_SMS_PROVIDER`` names (``log`` when unset, never in production:
    the production guard refused to start already). ``transport`` is for tests."""
    from linli.channels import aliyun, log, tencent, webhook

    builders: dict[str, Callable[[], SmsChannel]] = {
        "log": lambda: log.LogChannel(redact=settings.is_production),
        "aliyun": lambda: aliyun.AliyunSms.from_settings(settings, http_client(settings, transport)),
        "tencent": lambda: tencent.TencentSms.from_settings(settings, http_client(settings, transport)),
        "webhook": lambda: webhook.WebhookSms.from_settings(settings, http_client(settings, transport)),
    }
    return builders[settings.sms_channel]()
