"""Settings read from the environment (``LINLI_*``).

One immutable object, built once per process (``get_settings``) or explicitly by tests
(``Settings(database_url=...)``). Production refuses to start with the default secret.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me-before-production"
DEFAULT_PAYMENT_SECRET = "dev-insecure-payment-secret"


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

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        # Accept the libpq spelling in the docs and pick the psycopg 3 driver.
        if v and v.startswith("postgresql://"):
            return "postgresql+psycopg://" + v[len("postgresql://") :]
        if v and v.startswith("postgres://"):
            return "postgresql+psycopg://" + v[len("postgres://") :]
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
        return self

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
