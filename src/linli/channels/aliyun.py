"""Aliyun SMS (dysmsapi ``SendSms``, version 2017-05-25), signed with ACS3-HMAC-SHA256.

The V3 request signature as Alibaba Cloud documents it for RPC-style APIs (V2 / HMAC-SHA1
is discontinued):

    CanonicalRequest = POST \\n / \\n CanonicalQueryString \\n CanonicalHeaders \\n
                       SignedHeaders \\n HashedRequestPayload
    StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(AccessKeySecret, StringToSign))
    Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<…>,Signature=<…>

The parameters travel in the query string (keys sorted, RFC 3986 percent-encoding: only
``A-Za-z0-9-_.~`` stay as they are), the body is empty, and the signed headers are ``host``
and every ``x-acs-*`` header, lower-case and sorted. The answer is ``{"Code": "OK", "BizId":
…}`` or ``{"Code": "isv.…", "Message": …}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import quote

import httpx

from linli.channels.sms import InDoubt, Refused, Sent, SmsMessage, json_body, post, template_code
from linli.config import Settings

ENDPOINT = "https://dysmsapi.aliyuncs.com"
VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
# Worth trying again shortly: the provider was busy or failed inside. Everything else
# (bad number, template, signature, balance, per-phone frequency control) is final.
RETRYABLE = {"isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError", "Throttling", "Throttling.User", "Throttling.Api"}


def percent(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))


def signature(secret: str, method: str, query: str, headers: dict[str, str], payload_sha256: str) -> tuple[str, str]:
    """(signed headers, hex signature) of a request whose headers are already lower-case."""
    names = sorted(h for h in headers if h == "host" or h == "content-type" or h.startswith("x-acs-"))
    canonical_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
    signed = ";".join(names)
    canonical_request = "\n".join([method, "/", query, canonical_headers, signed, payload_sha256])
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return signed, hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunSms:
    name = "aliyun"

    def __init__(
        self,
        client: httpx.Client,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: dict[str, str],
        endpoint: str = ENDPOINT,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.client = client
        self.key_id, self.secret, self.sign_name, self.templates = access_key_id, access_key_secret, sign_name, templates
        self.endpoint = endpoint.rstrip("/")
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client) -> "AliyunSms":
        return cls(
            client,
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret,
            sign_name=settings.sms_sign_name,
            templates=settings.sms_template_codes,
            endpoint=settings.sms_endpoint or (f"https://dysmsapi.{settings.sms_region}.aliyuncs.com" if settings.sms_region else ENDPOINT),
        )

    def request(self, message: SmsMessage) -> tuple[str, dict[str, str], bytes]:
        """The signed request: (URL, headers, form body). The parameters travel in the body,
        never in the URL, so no code or phone number reaches a log of request lines."""
        params = {
            "PhoneNumbers": message.phone,
            "SignName": self.sign_name,
            "TemplateCode": template_code(self.templates, message.template),
            "TemplateParam": json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
        }
        if message.ref:
            params["OutId"] = message.ref
        body = canonical_query(params).encode()
        body_sha256 = hashlib.sha256(body).hexdigest()
        headers = {
            "host": httpx.URL(self.endpoint).netloc.decode(),
            "x-acs-action": "SendSms",
            "x-acs-version": VERSION,
            "x-acs-date": self.clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": body_sha256,
        }
        signed, sig = signature(self.secret, "POST", "", headers, body_sha256)
        headers["authorization"] = f"{ALGORITHM} Credential={self.key_id},SignedHeaders={signed},Signature={sig}"
        headers["accept"] = "application/json"
        headers["content-type"] = "application/x-www-form-urlencoded"
        return f"{self.endpoint}/", headers, body

    def send(self, message: SmsMessage) -> Sent:
        url, headers, form = self.request(message)
        body = json_body(post(self.client, url, headers=headers, content=form))
        code = str(body.get("Code") or "")
        if code == "OK":
            return Sent(provider_ref=str(body.get("BizId") or ""))
        if not code:
            raise InDoubt("provider.unreadable", "an answer without Code")
        raise Refused(f"aliyun.{code}", str(body.get("Message") or "")[:300], retryable=code in RETRYABLE or code.startswith("Throttling"))
