"""支付设置: the console page listing and saving the payment accounts, without JavaScript —
a merchant owner's (``/console/merchants/{mid}/payment-accounts``) and the platform's own
(``/console/platform/payment-accounts``, platform admins). Secrets are password fields that
show the stored mask as a placeholder; left empty, the stored secret is kept."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity.service import Principal
from linli.payments import accounts
from linli.payments.accounts_api import may_save, owned
from linli.schema import Id
from linli.web.console import merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "payment.provider_invalid": N_("Choose WeChat Pay or Alipay."),
        "payment.mode_invalid": N_("Choose direct merchant or sub-merchant of the platform."),
        "payment.platform_account_missing": N_("The platform has no account at this provider yet, so sub-merchant mode is not available."),
        "payment.account_in_use": N_("Payments or refunds at this account are not settled yet; change the account once they are (re-entering its keys is fine)."),
    }
)

LABELS = {
    "mchid": N_("Merchant number (mchid)"),
    "appid": N_("AppID"),
    "serial_no": N_("API certificate serial number"),
    "public_key_id": N_("WeChat Pay public key ID"),
    "public_key": N_("Provider public key (PEM)"),
    "sub_mchid": N_("Sub-merchant number (sub_mchid)"),
    "sub_appid": N_("Sub-merchant AppID (optional)"),
    "app_id": N_("Alipay app ID"),
    "private_key": N_("Private key (PEM)"),
    "apiv3_key": N_("APIv3 key"),
    "app_auth_token": N_("App auth token (app_auth_token)"),
}
PROVIDER_NAMES = {"wechatpay": N_("WeChat Pay"), "alipay": N_("Alipay")}
MODE_NAMES = {"direct": N_("Direct merchant (own keys)"), "partner": N_("Sub-merchant of the platform")}


def _forms(s: Session, merchant_id: int | None) -> list[dict]:
    """Per provider: the stored account (if any) and the fields of each mode."""
    stored = accounts.accounts_of(s, merchant_id)
    modes = ["direct"] if merchant_id is None else list(accounts.MODES)
    out = []
    for provider in accounts.PROVIDERS:
        a = stored.get(provider)
        specs = {m: accounts.SPECS[(provider, m)] for m in modes}
        out.append({"provider": provider, "account": a, "modes": specs, "notify_url": accounts.rails.get().notify_url(provider)})
    return out


def _page(page: Page, s: Session, who: Principal, merchant_id: int | None, *, status: int = 200, error: DomainError | str | None = None,
          failed: str = "", saved: str = "") -> Response:
    owned(s, who, merchant_id)
    view = merchant_view(s, who, merchant_id) if merchant_id is not None else None
    action = f"/console/merchants/{merchant_id}/payment-accounts" if merchant_id is not None else "/console/platform/payment-accounts"
    return page.render("payments/console_accounts.html", status=status, error=error, failed=failed, saved=saved, view=view, action=action,
                       accounts=_forms(s, merchant_id), labels=LABELS, providers=PROVIDER_NAMES, mode_names=MODE_NAMES, secret_fields=accounts.SECRET_FIELDS)


def _save(page: Page, form, s: Session, who: Principal, merchant_id: int | None, now) -> Response:
    provider, mode = text(form, "provider"), text(form, "mode") or "direct"
    back = f"/console/merchants/{merchant_id}/payment-accounts" if merchant_id is not None else "/console/platform/payment-accounts"
    try:
        with attempt(s):
            if provider not in accounts.PROVIDERS:
                raise Invalid("payment.provider_invalid", "The provider is wechatpay or alipay.")
            # Each mode's fields are named <mode>.<field>, so one form holds both modes.
            values = {k.split(".", 1)[1]: text(form, k) for k in form.keys() if k.startswith(mode + ".")}
            may_save(s, who, merchant_id, provider, mode, values)
            accounts.save(s, merchant_id, provider, mode, values, now)
    except DomainError as exc:
        return _page(page, s, who, merchant_id, error=exc, failed=provider)
    return page.redirect(f"{back}?saved={provider}")


@router.get("/console/merchants/{mid}/payment-accounts")
def merchant_accounts(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _page(page, s, who, mid, saved=page.request.query_params.get("saved", ""))


@router.post("/console/merchants/{mid}/payment-accounts")
def save_merchant_account(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _save(page, form, s, who, mid, now)


@router.get("/console/platform/payment-accounts")
def platform_accounts(page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _page(page, s, who, None, saved=page.request.query_params.get("saved", ""))


@router.post("/console/platform/payment-accounts")
def save_platform_account(page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    return _save(page, form, s, who, None, now)
