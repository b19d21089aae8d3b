"""Tencent Cloud SMS (``SendSms``, API 3.0, version 2021-01-11), signed with TC3-HMAC-SHA256.

The signature as Tencent Cloud documents it (Signature v3):

    CanonicalRequest = POST \\n / \\n \\n content-type:application/json; charset=utf-8\\n
                       host:<host>\\n \\n content-type;host \\n hex(sha256(payload))
    CredentialScope  = <UTC date YYYY-MM-DD>/sms/tc3_request
    StringToSign     = "TC3-HMAC-SHA256" \\n <timestamp> \\n CredentialScope \\n hex(sha256(CanonicalRequest))
    SecretDate       = hmac_sha256("TC3" + SecretKey, date)
    SecretService    = hmac_sha256(SecretDate, "sms")
    SecretSigning    = hmac_sha256(SecretService, "tc3_request")
    Signature        = hex(hmac_sha256(SecretSigning, StringToSign))
    Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<CredentialScope>, SignedHeaders=content-type;host, Signature=<…>

with ``X-TC-Action: SendSms``, ``X-TC-Version``, ``X-TC-Timestamp`` and ``X-TC-Region``. The
answer is ``{"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": …}], "RequestId": …}}``,
or ``{"Response": {"Error": {"Code": …, "Message": …}, "RequestId": …}}`` for the whole
request; a number the provider refused has its own ``Code`` in ``SendStatusSet``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timezone

import httpx

from linli.channels.sms import InDoubt, Refused, Sent, SmsMessage, e164, json_body, post, template_code
from linli.config import Settings

ENDPOINT = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_REGION = "ap-guangzhou"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret_key: str, host: str, payload: bytes, timestamp: int) -> tuple[str, str]:
    """(credential scope, hex signature) of a POST / with a JSON payload."""
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    canonical_request = f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n{hashlib.sha256(payload).hexdigest()}"
    scope = f"{date}/{SERVICE}/tc3_request"
    to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), SERVICE), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _retryable(code: str) -> bool:
    # The provider was busy or failed inside; InternalError.Timeout is handled as in doubt.
    return code.startswith("InternalError") or code in {"RequestLimitExceeded", "ResourceUnavailable"}


class TencentSms:
    name = "tencent"

    def __init__(
        self,
        client: httpx.Client,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        templates: dict[str, str],
        region: str = DEFAULT_REGION,
        endpoint: str = ENDPOINT,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.client = client
        self.secret_id, self.secret_key, self.sdk_app_id, self.sign_name = secret_id, secret_key, sdk_app_id, sign_name
        self.templates, self.region = templates, region
        self.endpoint = endpoint.rstrip("/")
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.Client) -> "TencentSms":
        return cls(
            client,
            secret_id=settings.sms_access_key_id,
            secret_key=settings.sms_access_key_secret,
            sdk_app_id=settings.sms_sdk_app_id,
            sign_name=settings.sms_sign_name,
            templates=settings.sms_template_codes,
            region=settings.sms_region or DEFAULT_REGION,
            endpoint=settings.sms_endpoint or ENDPOINT,
        )

    def request(self, message: SmsMessage) -> tuple[str, dict[str, str], bytes]:
        """The signed request: (URL, headers, JSON payload)."""
        body = {
            "PhoneNumberSet": [e164(message.phone)],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": template_code(self.templates, message.template),
            "TemplateParamSet": [str(v) for v in message.params.values()],
            "SessionContext": message.ref,
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        host = httpx.URL(self.endpoint).netloc.decode()
        timestamp = int(self.clock().timestamp())
        scope, sig = signature(self.secret_key, host, payload, timestamp)
        headers = {
            "Host": host,
            "Content-Type": CONTENT_TYPE,
            "X-TC-Action": "SendSms",
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
            "Authorization": f"{ALGORITHM} Credential={self.secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}",
        }
        return self.endpoint + "/", headers, payload

    def send(self, message: SmsMessage) -> Sent:
        url, headers, payload = self.request(message)
        answer = json_body(post(self.client, url, headers=headers, content=payload)).get("Response")
        if not isinstance(answer, dict):
            raise InDoubt("provider.unreadable", "an answer without Response")
        error = answer.get("Error")
        if isinstance(error, dict):
            return self._refuse(str(error.get("Code") or "Error"), str(error.get("Message") or ""))
        statuses = answer.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise InDoubt("provider.unreadable", "an answer without SendStatusSet")
        status = statuses[0]
        code = str(status.get("Code") or "")
        if code == "Ok":
            return Sent(provider_ref=str(status.get("SerialNo") or ""))
        return self._refuse(code or "Unknown", str(status.get("Message") or ""))

    @staticmethod
    def _refuse(code: str, detail: str) -> Sent:
        if code == "InternalError.Timeout":  # the provider timed out handing it on: may have gone
            raise InDoubt(f"tencent.{code}", detail[:300])
        raise Refused(f"tencent.{code}", detail[:300], retryable=_retryable(code))
