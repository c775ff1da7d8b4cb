"""All configuration in one class: `config/pourtier.yaml`, overridden by env vars."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pourtier.domain.errors import InvalidInput
from pourtier.domain.users import validate_wallet_address
from pourtier.infrastructure.rate_limiter import parse_limits

MIN_SECRET_LENGTH = 32
DEFAULT_CONFIG_PATH = Path("config/pourtier.yaml")
KNOWN_WEAK_SECRETS = {"your-secret-key-here", "changeme", "secret", "dev-secret"}


def config_path() -> Path:
    return Path(os.environ.get("POURTIER_CONFIG", DEFAULT_CONFIG_PATH))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    ENV: Literal["development", "test", "production"] = "development"
    POURTIER_DATA_DIR: Path = Path(".pourtier")
    LOG_LEVEL: str = "INFO"
    ACCESS_LOG: bool = Field(
        default=True,
        description="One log line per request; 5xx answers are logged regardless.",
    )

    DATABASE_URL: str | None = None
    DATABASE_DIRECT_URL: str | None = Field(
        default=None,
        description="A session of its own (LISTEN, migrations); default DATABASE_URL.",
    )
    DATABASE_POOLER: Literal["none", "transaction"] = Field(
        default="none",
        description="transaction: DATABASE_URL is a transaction-pooling PgBouncer.",
    )
    DATABASE_POOL_SIZE: int = Field(default=20, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=10, ge=0)

    REDIS_URL: str | None = None
    REDIS_HOST: str | None = None
    REDIS_PORT: int = 6379
    REDIS_PASSWORD: SecretStr | None = None
    CACHE_TTL_SECONDS: float = Field(default=60.0, gt=0)
    CACHE_MAX_ENTRIES: int = Field(default=10_000, ge=1)
    CACHE_NAMESPACE: str | None = Field(
        default=None, description="Redis key prefix; derived from the database."
    )
    CACHE_REDIS_TIMEOUT_SECONDS: float = Field(default=0.25, gt=0)
    CACHE_REDIS_RETRY_SECONDS: float = Field(default=2.0, gt=0)

    JWT_SECRET_KEY: SecretStr | None = None
    JWT_ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    JWT_ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1)
    JWT_REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=30, ge=1)
    JWT_KEY_ID: str = "primary"
    JWT_PREVIOUS_KEYS: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Retired signing keys by kid, still accepted for verification.",
    )
    JWT_ISSUER: str = "pourtier"
    JWT_AUDIENCE: str = "pourtier-api"

    AUTH_DOMAIN: str | None = None
    AUTH_URI: str | None = None

    SOLANA_RPC_URL: str | None = None
    LOCALNET_PORT: int = Field(
        default=8899,
        ge=0,
        le=65535,
        description="Port of the local chain without SOLANA_RPC_URL; 0: any free.",
    )
    SOLANA_CLUSTER: Literal["mainnet", "devnet", "testnet", "localnet"] = "localnet"
    ESCROW_PROGRAM_ID: str | None = None
    PASSEUR_URL: str | None = None
    COURIER_URL: str | None = Field(
        default=None,
        description="The platform's event bus; unset: events go to webhooks only.",
    )
    EVENT_DELIVERY_TIMEOUT_SECONDS: float = Field(
        default=10.0, gt=0, description="Wait for a sink's answer this long."
    )

    USDC_MINT: str | None = Field(
        default=None, description="Mint of the escrow token; generated locally."
    )
    TREASURY_TOKEN_ACCOUNT: str | None = Field(
        default=None, description="USDC account receiving fees; created locally."
    )
    FEE_AUTHORITY_KEYPAIR: SecretStr | None = Field(
        default=None,
        description="base58 64-byte secret key of the delegate that charges fees.",
    )
    BASIC_PRICE_USDC: Decimal = Decimal("29.99")
    PRO_PRICE_USDC: Decimal = Decimal("99.99")
    SUBSCRIPTION_GRACE_DAYS: int = Field(default=3, ge=0)
    RENEWAL_NOTICE_DAYS: int = Field(
        default=3, ge=0, description="Days before a renewal its notice is sent."
    )
    PREPARED_TRANSACTION_TTL_SECONDS: int = Field(default=120, ge=10)
    CHAIN_CONFIRM_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    RUN_WORKERS: bool = Field(
        default=True, description="Run the chain and renewal workers in the API."
    )

    KYC_PROVIDER: Literal["manual", "sumsub"] = Field(
        default="manual", description="manual: operators decide in the admin API."
    )
    KYC_ENCRYPTION_KEY: SecretStr | None = Field(
        default=None,
        description="Fernet key of the manual provider's personal details; "
        "generated into POURTIER_DATA_DIR outside production.",
    )
    KYC_UNVERIFIED_DEPOSIT_LIMIT_USDC: Decimal = Field(
        default=Decimal(1000),
        ge=0,
        description="Confirmed deposits a user may make before KYC is verified.",
    )
    KYC_REQUIRED_FOR: list[Literal["withdraw", "subscribe", "pro"]] = Field(
        default_factory=list, description="What else needs a verified KYC."
    )
    KYC_RECONCILE_AFTER_MINUTES: int = Field(
        default=30, ge=1, description="Ask the provider about cases waiting this long."
    )
    KYC_WEBHOOK_SECRET: SecretStr | None = None
    SUMSUB_APP_TOKEN: SecretStr | None = None
    SUMSUB_SECRET_KEY: SecretStr | None = None
    SUMSUB_BASE_URL: str = "https://api.sumsub.com"
    SUMSUB_LEVEL_NAME: str = "basic-kyc-level"

    CORS_ORIGINS: list[str] = Field(default_factory=lambda: ["http://localhost:3000"])

    RATE_LIMIT_ENABLED: bool = Field(
        default=True, description="false switches rate limiting off (benchmarks)."
    )
    RATE_LIMIT_AUTH: str = Field(
        default="20/minute", description="Sign-in routes, per client IP and wallet."
    )
    RATE_LIMIT_READ: str = Field(
        default="600/minute", description="GET routes, per client IP and user."
    )
    RATE_LIMIT_WRITE: str = Field(
        default="120/minute", description="Other routes, per client IP and user."
    )
    RATE_LIMIT_REDIS_URL: str | None = Field(
        default=None, description="Store of the limits; default: the cache's Redis."
    )
    RATE_LIMIT_STORE_RETRY_SECONDS: float = Field(default=5.0, gt=0)
    TRUSTED_PROXIES: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Proxies whose X-Forwarded-For is believed (IPs or CIDRs).",
    )
    ADMIN_WALLETS: list[str] = Field(
        default_factory=list,
        description="Wallets that always hold the admin role (JSON list).",
    )
    MAX_BODY_BYTES: int = Field(default=64 * 1024, ge=1024)
    HOST: str = "127.0.0.1"
    PORT: int = 9000

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=config_path())
        return (init_settings, env_settings, yaml_source, file_secret_settings)

    @field_validator("RATE_LIMIT_AUTH", "RATE_LIMIT_READ", "RATE_LIMIT_WRITE")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_limits(value)
        return value

    @field_validator("ADMIN_WALLETS")
    @classmethod
    def _admin_wallets(cls, value: list[str]) -> list[str]:
        for wallet in value:
            try:
                validate_wallet_address(wallet)
            except InvalidInput as error:
                raise ValueError(f"ADMIN_WALLETS: {wallet!r}: {error.detail}") from None
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _pooler_needs_a_direct_url(self) -> Settings:
        """LISTEN through a transaction pooler would hear nothing reliably, so
        a pooled DATABASE_URL needs the direct one named."""
        if self.DATABASE_POOLER == "transaction" and not self.DATABASE_DIRECT_URL:
            raise ValueError("DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL")
        return self

    @model_validator(mode="after")
    def _sumsub_needs_its_secrets(self) -> Settings:
        if self.KYC_PROVIDER == "sumsub":
            missing = [
                name
                for name in (
                    "SUMSUB_APP_TOKEN",
                    "SUMSUB_SECRET_KEY",
                    "KYC_WEBHOOK_SECRET",
                )
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError("KYC_PROVIDER=sumsub needs " + ", ".join(missing))
        return self

    @model_validator(mode="after")
    def _refuse_weak_production(self) -> Settings:
        if self.ENV != "production":
            return self
        problems = []
        secret = self.JWT_SECRET_KEY.get_secret_value() if self.JWT_SECRET_KEY else ""
        if not secret:
            problems.append("JWT_SECRET_KEY is missing")
        elif len(secret) < MIN_SECRET_LENGTH or secret in KNOWN_WEAK_SECRETS:
            problems.append(
                f"JWT_SECRET_KEY is weak (use at least {MIN_SECRET_LENGTH} random "
                "characters)"
            )
        weak_retired = [
            kid
            for kid, key in self.JWT_PREVIOUS_KEYS.items()
            if len(key.get_secret_value()) < MIN_SECRET_LENGTH
        ]
        if weak_retired:
            problems.append(
                "JWT_PREVIOUS_KEYS has weak keys: " + ", ".join(sorted(weak_retired))
            )
        # Production runs on a real cluster: never the local chain and its
        # generated test mint, so every chain setting is required by name.
        required = {
            "DATABASE_URL": self.DATABASE_URL,
            "AUTH_DOMAIN": self.AUTH_DOMAIN,
            "SOLANA_RPC_URL": self.SOLANA_RPC_URL,
            "USDC_MINT": self.USDC_MINT,
            "TREASURY_TOKEN_ACCOUNT": self.TREASURY_TOKEN_ACCOUNT,
            "FEE_AUTHORITY_KEYPAIR": self.FEE_AUTHORITY_KEYPAIR,
        }
        required["KYC_ENCRYPTION_KEY"] = self.KYC_ENCRYPTION_KEY
        problems += [
            f"{name} is missing" for name, value in required.items() if not value
        ]
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def auth_domain(self) -> str:
        return self.AUTH_DOMAIN or f"localhost:{self.PORT}"

    @property
    def auth_uri(self) -> str:
        return self.AUTH_URI or f"http://{self.auth_domain}"

    @property
    def redis_url(self) -> str | None:
        if self.REDIS_URL:
            return self.REDIS_URL
        if not self.REDIS_HOST:
            return None
        password = self.REDIS_PASSWORD.get_secret_value() if self.REDIS_PASSWORD else ""
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{self.REDIS_HOST}:{self.REDIS_PORT}/0"

    @property
    def rate_limit_redis_url(self) -> str | None:
        return self.RATE_LIMIT_REDIS_URL or self.redis_url
