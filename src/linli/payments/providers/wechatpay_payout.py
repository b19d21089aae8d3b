"""The payout port (``commission.payout.PayoutGateway``, by shape) over WeChat Pay's
merchant transfer (商家转账): a sharer's withdrawal goes to their WeChat balance.

``payments`` never imports ``commission`` (an import contract), so ``WechatPayout`` answers
with ``PayoutOutcome``, which has ``PayoutResult``'s fields and states (``paid`` / ``failed`` /
``processing`` / ``not_found``, ``ref``, ``error``) plus the ``package_info`` a transfer
waiting for the payee's confirmation needs on the page (``wx.requestMerchantTransfer``,
in ``confirm``: ``mchId``, ``appId``, ``package``). Commission builds one per withdrawal
of a merchant with a WeChat Pay account (``commission.payout_rails``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from linli.payments.providers.wechatpay import FAILED, NOT_FOUND, PROCESSING, ProviderRefused, Transfer, WechatPay


@dataclass(frozen=True)
class PayoutOutcome:
    """commission.payout.PayoutResult's shape (state paid | failed | processing | not_found,
    ref, error), plus the ``package_info`` a WAIT_USER_CONFIRM transfer needs on the page."""

    state: str
    ref: str | None = None
    error: str | None = None
    package_info: str | None = None
    confirm: dict[str, str] | None = None  # what wx.requestMerchantTransfer takes: mchId, appId, package


class WechatPayout:
    """Pays a sharer's withdrawal to their WeChat balance by merchant transfer, with our
    transfer number as ``out_bill_no``: ``pay`` again with the same number answers with the
    first transfer, ``query`` tells what became of a number. ``openid_of`` gives the
    member's openid under the merchant's appid (None: the member has not bound WeChat).

    A refusal is only reported as ``failed`` once a query shows no transfer exists under the
    number (a refusal of a repeat must not give the money back while the first one pays);
    timeouts and outages raise (``ServiceUnavailable``), so the withdrawal stays paying and
    the reconcile job asks again."""

    def __init__(self, client: WechatPay, openid_of: Callable[[int], str | None]) -> None:
        self.client = client
        self.openid_of = openid_of

    def _outcome(self, t: Transfer) -> PayoutOutcome:
        state = t.payout_state
        error = None if state != FAILED else f"wechatpay: transfer {t.state} {t.fail_reason}".strip()
        confirm = None
        if t.package_info and state == PROCESSING:
            c = self.client.creds
            confirm = {"mchId": c.sub_mchid or c.mchid, "appId": c.app, "package": t.package_info}
        return PayoutOutcome(state, t.transfer_bill_no or None, error, t.package_info or None, confirm)

    def connect(self, bind: object) -> WechatPayout:  # a remote provider: the same for every database
        return self

    def pay(self, transfer_no: str, member_id: int, amount: int) -> PayoutOutcome:
        openid = self.openid_of(member_id)
        if not openid:
            return PayoutOutcome(FAILED, error="wechatpay: the member has no WeChat openid for this merchant")
        try:
            return self._outcome(self.client.transfer(transfer_no, openid, amount))
        except ProviderRefused as exc:
            existing = self.client.query_transfer(transfer_no)
            if existing is not None:
                return self._outcome(existing)
            return PayoutOutcome(FAILED, error=f"wechatpay: {exc.detail}"[:500])

    def query(self, transfer_no: str) -> PayoutOutcome:
        t = self.client.query_transfer(transfer_no)
        return PayoutOutcome(NOT_FOUND) if t is None else self._outcome(t)
