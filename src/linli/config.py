"""Settings read from the environment (``LINLI_*``).

One immutable object, built once per process (``get_settings``) or explicitly by tests
(``Settings(database_url=...)``). Production refuses to start with the default secret, or
without an SMS provider and its credentials (one-time codes would reach nobody).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me-before-production"
DEFAULT_PAYMENT_SECRET = "dev-insecure-payment-secret"

# What each SMS provider needs (``LINLI_SMS_*``); production refuses to start without it.
SMS_PROVIDERS = ("aliyun", "tencent", "webhook")
SMS_REQUIRED: dict[str, tuple[str, ...]] = {
    "aliyun": ("sms_access_key_id", "sms_access_key_secret", "sms_sign_name", "sms_template_otp"),
    "tencent": ("sms_access_key_id", "sms_access_key_secret", "sms_sdk_app_id", "sms_sign_name", "sms_template_otp"),
    "webhook": ("sms_webhook_url", "sms_webhook_secret"),
}


class ConfigError(RuntimeError):
    """The environment describes a configuration Linli refuses to run with."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", frozen=True, extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    database_url: str = "sqlite:///./linli.db"
    # Optional read replica for dashboards; defaults to the primary.
    database_replica_url: str | None = None
    redis_url: str | None = None
    broker_url: str | None = None
    # RabbitMQ queue the outbox relay publishes to (one per deployment; tests use their own).
    broker_queue: str = "linli_events"
    secret_key: str = DEFAULT_SECRET
    payment_secret: str = DEFAULT_PAYMENT_SECRET
    # Fernet keys sealing provider credentials at rest, newest first (linli.vault); empty:
    # one key derived from secret_key.
    vault_keys: str = ""
    # The deployment's public https address: the payment notification URLs registered with
    # WeChat Pay and Alipay are under it (``…/api/v1/payments/wechatpay/notify``).
    public_url: str = ""
    # Where the provider clients send their calls: empty is the provider's own gateway
    # (a proxy, or a local fake in tests, otherwise).
    wechatpay_base_url: str = ""
    alipay_gateway_url: str = ""
    # Days risk keeps the captured signals (hashed device, IP, phone, payer, address).
    risk_signal_retention_days: int = Field(default=180, ge=1, le=3650)
    platform_admins: str = ""
    max_levels: int = Field(default=2, ge=1, le=3)
    rate_limits: str = ""
    token_ttl_seconds: int = 7 * 24 * 3600
    otp_ttl_seconds: int = 300
    media_dir: str = "./media"
    # Extra modules imported at start-up (comma-separated); they may register event
    # handlers and jobs. This is how deployments extend Linli without forking it.
    plugins: str = ""
    # Whether the API process dispatches the outbox itself (embedded mode). Defaults to
    # on when no broker is configured.
    inline_dispatch: bool | None = None
    log_json: bool = True
    # Threads per API process that run the sync endpoints. Python runs one at a time, so
    # past a few they only contend for the interpreter; on SQLite, whose requests never wait
    # on a network, 4 serve the most requests with the shortest tail (bench.sqlite_api:
    # GET /me 261 -> 314 req/s, p99 83 -> 52 ms at 8 connections). PostgreSQL requests wait
    # on round trips, so there the pool keeps anyio's 40. Unset: that choice.
    api_threads: int | None = Field(default=None, ge=1, le=256)
    # How one-time codes (and later other messages) leave: ``log`` (the default outside
    # production) records them; production needs ``aliyun``, ``tencent`` or ``webhook``.
    sms_provider: Literal["log", "aliyun", "tencent", "webhook"] | None = None
    sms_access_key_id: str = ""  # Aliyun AccessKey ID / Tencent SecretId
    sms_access_key_secret: str = ""  # Aliyun AccessKey secret / Tencent SecretKey
    sms_sign_name: str = ""  # the approved signature (签名), e.g. 优邻优选
    sms_template_otp: str = ""  # the provider's template for one-time codes (SMS_… / a Tencent id)
    sms_templates: str = ""  # more templates by name: ``marketing=SMS_123;pickup=SMS_456``
    sms_sdk_app_id: str = ""  # Tencent SmsSdkAppId (1400…)
    sms_region: str = ""  # Aliyun cn-hangzhou / Tencent ap-guangzhou when unset
    sms_endpoint: str = ""  # base URL override (a proxy, or a local fake in tests)
    sms_webhook_url: str = ""
    sms_webhook_secret: str = ""
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # WeChat login (identity.wechat_client): the API and the web-authorisation host (base
    # URL overrides point at a proxy, or at the local fake in tests).
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_open_base: str = "https://open.weixin.qq.com"
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        # Accept the libpq spelling in the docs and pick the psycopg 3 driver.
        if v and v.startswith("postgresql://"):
            return "postgresql+psycopg://" + v[len("postgresql://") :]
        if v and v.startswith("postgres://"):
            return "postgresql+psycopg://" + v[len("postgres://") :]
        return v

    @field_validator("max_levels", mode="before")
    @classmethod
    def _at_most_three_levels(cls, v: object) -> object:
        # The law's line, whatever the operator asks for: refused at start-up, not clamped.
        try:
            n = int(v)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return v  # not a number: the field's own validation error
        if n > 3:
            raise ConfigError(f"LINLI_MAX_LEVELS={v} is refused: at most 3 commission levels, the organiser's included (《禁止传销条例》)")
        return v

    @field_validator("vault_keys")
    @classmethod
    def _vault_keys_parse(cls, v: str) -> str:
        from linli.vault import key_ring

        try:
            key_ring(v, "unused")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _production_guard(self) -> "Settings":
        if self.env == "production":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ConfigError(
                    "LINLI_SECRET_KEY must be set to a random value of 32+ characters in production"
                )
            if self.payment_secret == DEFAULT_PAYMENT_SECRET:
                raise ConfigError("LINLI_PAYMENT_SECRET must be set in production")
            self._sms_guard()
        return self

    def _sms_guard(self) -> None:
        if self.sms_provider not in SMS_PROVIDERS:
            raise ConfigError(
                f"LINLI_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)} in production "
                f"(got {self.sms_provider or 'nothing'}): without it nobody receives a login code"
            )
        missing = [f"LINLI_{name.upper()}" for name in SMS_REQUIRED[self.sms_provider] if not str(getattr(self, name)).strip()]
        if missing:
            raise ConfigError(f"LINLI_SMS_PROVIDER={self.sms_provider} needs {', '.join(missing)} in production")
        if self.sms_provider == "webhook" and len(self.sms_webhook_secret) < 32:
            raise ConfigError("LINLI_SMS_WEBHOOK_SECRET must be a random value of 32+ characters in production")

    @property
    def sms_channel(self) -> str:
        """The SMS provider in use: the configured one, else ``log`` (never in production)."""
        return self.sms_provider or "log"

    @property
    def sms_template_codes(self) -> dict[str, str]:
        """Template names the code uses (``otp``, …) mapped to the provider's templates."""
        codes = {"otp": self.sms_template_otp} if self.sms_template_otp else {}
        for part in self.sms_templates.split(";"):
            name, _, code = part.partition("=")
            if name.strip() and code.strip():
                codes[name.strip()] = code.strip()
        return codes

    @property
    def endpoint_threads(self) -> int:
        return self.api_threads or (4 if self.is_sqlite else 40)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def sandbox_enabled(self) -> bool:
        """Sandbox payment gateway and OTP ``debug_code`` exist only outside production."""
        return not self.is_production

    @property
    def admin_phones(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.platform_admins.split(",") if p.strip())

    @property
    def dispatch_inline(self) -> bool:
        if self.inline_dispatch is not None:
            return self.inline_dispatch
        return not self.broker_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def plugin_modules(self) -> list[str]:
        return [m.strip() for m in self.plugins.split(",") if m.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
