"""Local fakes of the SMS providers' endpoints: an HTTP server on 127.0.0.1 that checks
each request the way the provider does — it recomputes the signature from the documented
algorithm (written here again, independently of the adapters), checks the body fields —
and answers with the provider's documented success and error bodies.

``script`` lists the answers to give, one per request (``"ok"`` once it runs out): ``"ok"``,
an error code of the provider (``"isp.SYSTEM_ERROR"``), or ``"drop"`` (read the request,
then close the connection without answering: the outcome is in doubt for the sender).
``delivered`` holds the messages the fake accepted; ``requests`` counts every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI5tFakeAccessKeyId", "FakeAccessKeySecretForTests0000"
TENCENT_ID, TENCENT_KEY = "AKIDfakeSecretIdForTests000000000000", "FakeSecretKeyForTests000000000000"
WEBHOOK_SECRET = "w" * 40
SIGN_NAME, TEMPLATE, SDK_APP_ID = "优邻优选", "SMS_154950909", "1400006666"


@dataclass
class Delivered:
    phone: str
    template: str
    params: dict | list
    headers: dict[str, str]


@dataclass
class FakeProvider:
    kind: str  # aliyun | tencent | webhook
    script: list[str] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    requests: int = 0
    refusals: list[str] = field(default_factory=list)
    got_one: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def next_answer(self) -> str:
        self.requests += 1
        return self.script.pop(0) if self.script else "ok"


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


# --- Aliyun: ACS3-HMAC-SHA256 over an RPC request, parameters in the query or a form body --


def _aliyun_check(method: str, raw_query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict] | dict:
    """The error answer Aliyun gives, or the parsed parameters when the request is good."""
    m = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})", headers.get("authorization", ""))
    if not m:
        return 400, {"Code": "IncompleteSignature", "Message": "The request signature does not conform to Aliyun standards.", "RequestId": _request_id()}
    key_id, signed, sig = m.groups()
    if key_id != ALIYUN_KEY_ID:
        return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found.", "RequestId": _request_id()}
    names = signed.split(";")
    if names != sorted(names) or "host" not in names or not all(n in names for n in headers if n.startswith("x-acs-")):
        return 400, {"Code": "IncompleteSignature", "Message": "SignedHeaders must list host and every x-acs- header, sorted.", "RequestId": _request_id()}
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload_hash:
        return 400, {"Code": "IncompleteSignature", "Message": "x-acs-content-sha256 does not match the body.", "RequestId": _request_id()}
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    enc = lambda s: quote(s, safe="-_.~")  # noqa: E731  (RFC 3986)
    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items()))
    params = dict(query)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):  # RPC parameters in a form body
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    canonical = "\n".join([method, "/", canonical_query, "".join(f"{n}:{headers.get(n, '').strip()}\n" for n in names), signed, payload_hash])
    expected = hmac.new(ALIYUN_SECRET.encode(), ("ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sig):
        return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation.", "RequestId": _request_id()}
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers.get("x-acs-date", "")) or not headers.get("x-acs-signature-nonce"):
        return 400, {"Code": "MissingParameter", "Message": "x-acs-date or x-acs-signature-nonce is missing.", "RequestId": _request_id()}
    if headers.get("x-acs-action") != "SendSms" or headers.get("x-acs-version") != "2017-05-25":
        return 400, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found.", "RequestId": _request_id()}
    return params


def _aliyun(fake: FakeProvider, method: str, raw_query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    checked = _aliyun_check(method, raw_query, headers, body)
    if isinstance(checked, tuple):
        fake.refusals.append(checked[1]["Code"])
        return checked
    p = checked
    if not re.fullmatch(r"1\d{10}", p.get("PhoneNumbers", "")):
        return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": _request_id()}
    if p.get("SignName") != SIGN_NAME:
        return 200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "该账号下找不到对应签名", "RequestId": _request_id()}
    if p.get("TemplateCode") != TEMPLATE:
        return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "该账号下找不到对应模板", "RequestId": _request_id()}
    try:
        params = json.loads(p.get("TemplateParam", ""))
    except ValueError:
        return 200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法，只接受字符串值", "RequestId": _request_id()}
    answer = fake.next_answer()
    if answer == "ok":
        fake.delivered.append(Delivered(p["PhoneNumbers"], p["TemplateCode"], params, headers))
        return 200, {"Code": "OK", "Message": "OK", "BizId": f"9006197469364984^{len(fake.delivered)}", "RequestId": _request_id()}
    return (503 if answer == "ServiceUnavailable" else 200), {"Code": answer, "Message": "scripted refusal", "RequestId": _request_id()}


# --- Tencent: TC3-HMAC-SHA256 over a JSON POST ---------------------------------------------


def _tc3(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _tencent_error(code: str, message: str) -> tuple[int, dict]:
    return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}


def _tencent(fake: FakeProvider, method: str, raw_query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    m = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/sms/tc3_request, SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})", headers.get("authorization", ""))
    if not m:
        fake.refusals.append("AuthFailure.InvalidAuthorization")
        return _tencent_error("AuthFailure.InvalidAuthorization", "Authorization header is malformed.")
    secret_id, date, signed, sig = m.groups()
    if secret_id != TENCENT_ID:
        fake.refusals.append("AuthFailure.SecretIdNotFound")
        return _tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
    ts = headers.get("x-tc-timestamp", "")
    if not ts.isdigit() or datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d") != date:
        fake.refusals.append("AuthFailure.SignatureFailure")
        return _tencent_error("AuthFailure.SignatureFailure", "The date in Credential does not match X-TC-Timestamp.")
    names = signed.split(";")
    canonical = "\n".join(
        [method, "/", raw_query, "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names), signed, hashlib.sha256(body).hexdigest()]
    )
    to_sign = f"TC3-HMAC-SHA256\n{ts}\n{date}/sms/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _tc3(_tc3(_tc3(("TC3" + TENCENT_KEY).encode(), date), "sms"), "tc3_request")
    if "content-type" not in names or "host" not in names or not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), sig):
        fake.refusals.append("AuthFailure.SignatureFailure")
        return _tencent_error("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
    if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11" or not headers.get("x-tc-region"):
        return _tencent_error("InvalidAction", "The action, version or region is wrong.")
    p = json.loads(body)
    if p.get("SmsSdkAppId") != SDK_APP_ID:
        return _tencent_error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verification failed.")
    if p.get("SignName") != SIGN_NAME:
        return _tencent_error("FailedOperation.SignatureIncorrectOrUnapproved", "The signature is incorrect or not approved.")
    if p.get("TemplateId") != TEMPLATE:
        return _tencent_error("FailedOperation.TemplateIncorrectOrUnapproved", "The template is incorrect or not approved.")
    phones = p.get("PhoneNumberSet") or []
    if len(phones) != 1 or not re.fullmatch(r"\+861\d{10}", phones[0]):
        return _tencent_error("InvalidParameterValue.IncorrectPhoneNumber", "The phone number is incorrect.")
    answer = fake.next_answer()
    if answer == "ok":
        fake.delivered.append(Delivered(phones[0][3:], p["TemplateId"], p.get("TemplateParamSet") or [], headers))
        status = {"SerialNo": f"2028:{len(fake.delivered)}", "PhoneNumber": phones[0], "Fee": 1, "SessionContext": p.get("SessionContext", ""), "Code": "Ok", "Message": "send success", "IsoCode": "CN"}
    elif answer.startswith("LimitExceeded") or answer.startswith("FailedOperation.Phone"):  # refused for this number only
        status = {"SerialNo": "", "PhoneNumber": phones[0], "Fee": 0, "SessionContext": "", "Code": answer, "Message": "scripted refusal", "IsoCode": "CN"}
    else:
        return _tencent_error(answer, "scripted refusal")
    return 200, {"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}}


# --- the webhook: HMAC-SHA256 over "<timestamp>.<body>" --------------------------------------


def _webhook(fake: FakeProvider, method: str, raw_query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    ts = headers.get("x-linli-timestamp", "")
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not ts or not hmac.compare_digest(expected, headers.get("x-linli-signature", "")):
        fake.refusals.append("bad_signature")
        return 401, {"error": "bad signature"}
    p = json.loads(body)
    if headers.get("idempotency-key") != p.get("id"):
        return 400, {"error": "Idempotency-Key must be the message id"}
    answer = fake.next_answer()
    if answer == "ok":
        fake.delivered.append(Delivered(p["phone"], p["template"], p["params"], headers))
        return 200, {"id": f"gw-{len(fake.delivered)}"}
    return int(answer), {"error": "scripted"}


HANDLERS = {"aliyun": _aliyun, "tencent": _tencent, "webhook": _webhook}


def serve(fake: FakeProvider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            parts = urlsplit(self.path)
            if fake.script and fake.script[0] == "drop":
                fake.script.pop(0)
                fake.requests += 1
                self.close_connection = True
                self.connection.shutdown(2)  # read it, answer nothing
                return
            status, answer = HANDLERS[fake.kind](fake, "POST", parts.query, headers, body)
            data = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if fake.delivered:
                fake.got_one.set()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


def settings_for(kind: str, url: str) -> dict:
    """The ``LINLI_SMS_*`` settings that point a provider's adapter at its fake."""
    common = {"sms_provider": kind, "sms_sign_name": SIGN_NAME, "sms_template_otp": TEMPLATE, "sms_endpoint": url}
    if kind == "aliyun":
        return {**common, "sms_access_key_id": ALIYUN_KEY_ID, "sms_access_key_secret": ALIYUN_SECRET}
    if kind == "tencent":
        return {**common, "sms_access_key_id": TENCENT_ID, "sms_access_key_secret": TENCENT_KEY, "sms_sdk_app_id": SDK_APP_ID, "sms_region": "ap-guangzhou"}
    return {"sms_provider": "webhook", "sms_webhook_url": url + "/sms", "sms_webhook_secret": WEBHOOK_SECRET}
