"""The generic webhook SMS channel: POST the message as JSON to ``LINLI_SMS_WEBHOOK_URL``
(an in-house gateway, or any provider behind a small relay).

The request::

    POST <LINLI_SMS_WEBHOOK_URL>
    Content-Type: application/json
    Idempotency-Key: <message ref>                  (the same on every attempt of one message)
    X-Linli-Timestamp: <unix seconds>
    X-Linli-Signature: sha256=<hex(hmac_sha256(LINLI_SMS_WEBHOOK_SECRET, timestamp + "." + body))>

    {"id": "<message ref>", "phone": "13800000000", "phone_e164": "+8613800000000",
     "template": "otp", "params": {"code": "123456"}}

The receiver checks the signature over the exact body bytes (and refuses stale timestamps),
answers 2xx once it has taken the message (``{"id": "…"}`` optional), 4xx when it refuses it
for good (408 and 429: try again), 5xx when it failed and we may try again. It should
deduplicate on ``Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timezone

import httpx

from linli.channels.sms import Refused, Sent, SmsMessage, e164, post
from linli.config import Settings

SIGNATURE_HEADER = "X-Linli-Signature"
TIMESTAMP_HEADER = "X-Linli-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSms:
    name = "webhook"

    def __init__(self, client: httpx.Client, *, url: str, secret: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client, self.url, self.secret, self.clock = client, url, secret, clock

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client) -> "WebhookSms":
        return cls(client, url=settings.sms_webhook_url, secret=settings.sms_webhook_secret)

    def send(self, message: SmsMessage) -> Sent:
        body = json.dumps(
            {"id": message.ref, "phone": message.phone, "phone_e164": e164(message.phone), "template": message.template, "params": message.params},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        ts = str(int(self.clock().timestamp()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.ref, TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(self.secret, ts, body)}
        r = post(self.client, self.url, headers=headers, content=body)
        if 200 <= r.status_code < 300:
            try:
                ref = r.json().get("id") if r.content else None
            except (ValueError, AttributeError):
                ref = None
            return Sent(provider_ref=str(ref or ""))
        retry = r.status_code >= 500 or r.status_code in (408, 429)
        raise Refused(f"webhook.http_{r.status_code}", r.text[:300], retryable=retry)
