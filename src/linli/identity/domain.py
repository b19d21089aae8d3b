"""What identity contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """The WeChat login client, at the configured base URLs."""
    from linli.identity.ports import wechat
    from linli.identity.wechat_client import WechatClient

    s = w.settings
    if wechat.filled:  # wired again (tests build many apps): let the last one's connections go
        wechat.get().close()
    w.fill(wechat, WechatClient(s.wechat_api_base, s.wechat_open_base, timeout=s.wechat_timeout_seconds), by="identity")


DOMAIN = Domain("identity", modules=("models",), api=("api:router", "wechat_api:router"), pages=("pages:router", "wechat_pages:router"), wire=wire)
