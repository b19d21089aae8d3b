"""``PaymentGateway`` over the WeChat Pay client: JSAPI and H5 intents, refunds by request
key, and the order and refund queries the fallback job asks when a notification is late.
Notifications are read with their headers (``payments.notifications``), not ``parse_callback``."""

from __future__ import annotations

from urllib.parse import quote

from linli.errors import Invalid
from linli.payments.gateway import Callback, Intent, Opened, RefundResult
from linli.payments.providers.wechatpay import ProviderRefused, WechatPay, refund_no, trade_no

_REFUND_DONE = {"succeeded": "succeeded", "closed": "failed", "abnormal": "abnormal"}


class WechatPayPayments:
    name = "wechatpay"

    def __init__(self, client: WechatPay) -> None:
        self.client = client

    def open(self, intent: Intent) -> Opened:
        ref = trade_no(intent.payment_id)
        description = (intent.description or "Linli")[:127]
        if intent.method == "wechat_jsapi":
            prepay = self.client.jsapi(ref, intent.amount, description, intent.openid or "", time_expire=intent.expires_at)
            return Opened(ref, dict(prepay.pay_params))
        if intent.method == "wechat_h5":
            h5 = self.client.h5(ref, intent.amount, description, intent.client_ip or "", time_expire=intent.expires_at)
            url = h5.h5_url
            if intent.return_url:  # WeChat's cashier sends the buyer back here (redirect_url, urlencoded)
                url += "&redirect_url=" + quote(intent.return_url, safe="")
            return Opened(ref, {"h5_url": url})
        raise Invalid("payment.method_unavailable", f"WeChat Pay does not take {intent.method}.")

    def refund(self, gateway_ref: str, amount: int, request_key: str) -> RefundResult:
        """Accepted (usually PROCESSING: ``pending``, the refund notification or query settles
        it) or refused; the same request key is the same refund at WeChat Pay."""
        try:
            r = self.client.refund(gateway_ref, refund_no(request_key), amount)
        except ProviderRefused as exc:
            return RefundResult(False, None, exc.detail)
        result = r.result
        return RefundResult(result.ok, result.ref, result.error, pending=result.ok and r.state == "processing")

    def refund_state(self, gateway_ref: str, request_key: str) -> str:
        """processing | succeeded | abnormal | failed (closed, or unknown to WeChat Pay)."""
        r = self.client.query_refund(refund_no(request_key))
        return "failed" if r is None else _REFUND_DONE.get(r.state, "processing")

    def query(self, gateway_ref: str) -> Callback | None:
        t = self.client.query(gateway_ref)
        return None if t is None else t.as_callback()

    def close(self, gateway_ref: str) -> bool:
        """Closed at WeChat Pay (it can no longer be paid); a paid order is refused (ORDERPAID)."""
        self.client.close(gateway_ref)
        return True
