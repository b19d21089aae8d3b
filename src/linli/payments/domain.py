"""What payments contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """Where the provider clients send their calls and where notifications come back; the
    sandbox gateway where the settings allow it (never in production)."""
    from linli.payments.accounts import Rails, rails
    from linli.payments.gateway import SandboxGateway, payment_gateway
    from linli.payments.providers import alipay, wechatpay

    st = w.settings
    w.fill(rails, Rails(st.public_url, st.wechatpay_base_url or wechatpay.BASE_URL, st.alipay_gateway_url or alipay.GATEWAY), by="payments")
    w.fill(payment_gateway, SandboxGateway(st.payment_secret) if st.sandbox_enabled else None, by="payments")


DOMAIN = Domain("payments", modules=("models", "handlers", "jobs"), api=("api:router", "accounts_api:router", "reconciliation_api:router"),
                pages=("pages:router", "accounts_pages:router", "reconciliation_pages:router"), wire=wire)
