"""Settings: YAML file, environment overrides, production refusals, dev secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from pourtier.config import Settings
from pourtier.infrastructure.auth.secrets_store import resolve_jwt_secret
from pourtier.presentation.app import create_app_from_environment

STRONG_SECRET = "s" * 20 + "0123456789abcdefghij"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine; no YAML file unless a test writes one."""
    fields = {name.upper() for name in Settings.model_fields}
    for name in list(os.environ):
        if name.upper() in fields:
            monkeypatch.delenv(name)
    monkeypatch.setenv("POURTIER_CONFIG", str(tmp_path / "absent.yaml"))


def write_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "custom" / "settings.yaml"
    path.parent.mkdir()
    path.write_text(text)
    monkeypatch.setenv("POURTIER_CONFIG", str(path))
    return path


REQUIRED_IN_PRODUCTION = (
    "JWT_SECRET_KEY",
    "DATABASE_URL",
    "AUTH_DOMAIN",
    "SOLANA_RPC_URL",
    "USDC_MINT",
    "TREASURY_TOKEN_ACCOUNT",
    "FEE_AUTHORITY_KEYPAIR",
    "KYC_ENCRYPTION_KEY",
)


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "ENV": "production",
        "JWT_SECRET_KEY": STRONG_SECRET,
        "DATABASE_URL": "postgresql://db.internal/pourtier",
        "AUTH_DOMAIN": "app.example.com",
        "FEE_AUTHORITY_KEYPAIR": "fee-authority-secret-in-base58",
        "SOLANA_RPC_URL": "https://rpc.example.com/?api-key=private",
        "USDC_MINT": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        "TREASURY_TOKEN_ACCOUNT": "7VHUFJHWu2CuExkJcJrzhQPJ2oygupTWkL2A2For4BmE",
        "KYC_ENCRYPTION_KEY": "k" * 43 + "=",
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_defaults_without_file_or_env() -> None:
    settings = Settings()
    assert settings.ENV == "development"
    assert settings.DATABASE_URL is None
    assert settings.JWT_SECRET_KEY is None
    assert settings.redis_url is None
    assert settings.auth_domain == "localhost:9000"
    assert settings.auth_uri == "http://localhost:9000"


def test_yaml_file_is_read_from_pourtier_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(
        tmp_path,
        monkeypatch,
        "ENV: test\n"
        "PORT: 9123\n"
        "AUTH_DOMAIN: yaml.example.com\n"
        "JWT_ACCESS_TOKEN_EXPIRE_MINUTES: 7\n"
        "CORS_ORIGINS:\n  - https://a.example.com\n  - https://b.example.com\n",
    )
    settings = Settings()
    assert settings.ENV == "test"
    assert settings.PORT == 9123
    assert settings.auth_domain == "yaml.example.com"
    assert settings.auth_uri == "http://yaml.example.com"
    assert settings.JWT_ACCESS_TOKEN_EXPIRE_MINUTES == 7
    assert settings.CORS_ORIGINS == ["https://a.example.com", "https://b.example.com"]


def test_environment_overrides_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(
        tmp_path,
        monkeypatch,
        "PORT: 9123\nAUTH_DOMAIN: yaml.example.com\nLOG_LEVEL: DEBUG\n"
        "CORS_ORIGINS:\n  - https://yaml.example.com\n",
    )
    monkeypatch.setenv("PORT", "9555")
    monkeypatch.setenv("auth_domain", "env.example.com")
    monkeypatch.setenv("CORS_ORIGINS", '["https://env.example.com"]')
    settings = Settings()
    assert settings.PORT == 9555
    assert settings.AUTH_DOMAIN == "env.example.com"
    assert settings.CORS_ORIGINS == ["https://env.example.com"]
    assert settings.LOG_LEVEL == "DEBUG"  # not overridden: still from the file


def test_shipped_yaml_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "pourtier.yaml"
    monkeypatch.setenv("POURTIER_CONFIG", str(shipped))
    settings = Settings()
    assert settings.ENV == "development"
    assert settings.CORS_ORIGINS == ["http://localhost:3000"]


def test_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ALGORITHM", "none")
    with pytest.raises(ValidationError, match="JWT_ALGORITHM"):
        Settings()


def test_a_transaction_pooler_needs_the_direct_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().DATABASE_POOLER == "none"
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@pgbouncer:6432/pourtier")
    monkeypatch.setenv("DATABASE_POOLER", "transaction")
    with pytest.raises(ValidationError, match="needs DATABASE_DIRECT_URL"):
        Settings()
    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql://app@db:5432/pourtier")
    assert Settings().DATABASE_POOLER == "transaction"


ADMIN = "7VHUFJHWu2CuExkJcJrzhQPJ2oygupTWkL2A2For4BmE"


def test_admin_wallets_default_to_none_and_read_a_json_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().ADMIN_WALLETS == []
    monkeypatch.setenv("ADMIN_WALLETS", f'["{ADMIN}", "{ADMIN}"]')
    assert Settings().ADMIN_WALLETS == [ADMIN]  # duplicates dropped


@pytest.mark.parametrize("wallet", ["not-a-wallet", "0" * 44, ADMIN[:-1] + "0"])
def test_admin_wallets_must_be_solana_addresses(
    monkeypatch: pytest.MonkeyPatch, wallet: str
) -> None:
    monkeypatch.setenv("ADMIN_WALLETS", f'["{ADMIN}", "{wallet}"]')
    with pytest.raises(ValidationError, match="ADMIN_WALLETS"):
        Settings()


def test_complete_production_settings_are_accepted() -> None:
    settings = production()
    assert settings.ENV == "production"
    assert settings.auth_domain == "app.example.com"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("JWT_SECRET_KEY", "JWT_SECRET_KEY is missing"),
        ("DATABASE_URL", "DATABASE_URL is missing"),
        ("AUTH_DOMAIN", "AUTH_DOMAIN is missing"),
        ("SOLANA_RPC_URL", "SOLANA_RPC_URL is missing"),
        ("USDC_MINT", "USDC_MINT is missing"),
        ("TREASURY_TOKEN_ACCOUNT", "TREASURY_TOKEN_ACCOUNT is missing"),
        ("FEE_AUTHORITY_KEYPAIR", "FEE_AUTHORITY_KEYPAIR is missing"),
        ("KYC_ENCRYPTION_KEY", "KYC_ENCRYPTION_KEY is missing"),
    ],
)
def test_production_refuses_a_missing_setting(missing: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        production(**{missing: None})
    text = str(caught.value)
    assert "refusing to start in production" in text
    assert message in text
    others = set(REQUIRED_IN_PRODUCTION) - {missing}
    assert not any(f"{name} is missing" in text for name in others)


def test_production_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(ENV="production")
    text = str(caught.value)
    for name in REQUIRED_IN_PRODUCTION:
        assert f"{name} is missing" in text


@pytest.mark.parametrize("secret", ["short-secret", "changeme", "x" * 31])
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY is weak"):
        production(JWT_SECRET_KEY=secret)


def test_production_accepts_a_secret_of_minimum_length() -> None:
    assert production(JWT_SECRET_KEY="x" * 32).JWT_SECRET_KEY is not None


def test_service_startup_refuses_incomplete_production_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUTH_DOMAIN", "app.example.com")
    with pytest.raises(ValidationError, match="DATABASE_URL is missing"):
        create_app_from_environment()


@pytest.mark.parametrize("secret", ["tooshort-but-private", STRONG_SECRET])
def test_secret_is_not_echoed_in_the_refusal(secret: str) -> None:
    # The startup error ends up in logs: it must not carry the secret.
    with pytest.raises(ValidationError) as caught:
        Settings(ENV="production", JWT_SECRET_KEY=secret)
    assert "refusing to start in production" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret[-8:] not in str(caught.value)


def test_development_secret_is_generated_once_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = resolve_jwt_secret(Settings(POURTIER_DATA_DIR=data_dir))
    stored = data_dir / "jwt_secret"
    assert stored.read_text().strip() == first
    assert len(first) >= 32
    assert stat.S_IMODE(stored.stat().st_mode) & 0o077 == 0  # owner only
    again = resolve_jwt_secret(Settings(POURTIER_DATA_DIR=data_dir))
    assert again == first
    elsewhere = resolve_jwt_secret(Settings(POURTIER_DATA_DIR=tmp_path / "other"))
    assert elsewhere != first


def test_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(JWT_SECRET_KEY=STRONG_SECRET, POURTIER_DATA_DIR=tmp_path)
    assert resolve_jwt_secret(settings) == STRONG_SECRET
    assert not (tmp_path / "jwt_secret").exists()


def test_empty_secret_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "jwt_secret").write_text("\n")
    secret = resolve_jwt_secret(Settings(POURTIER_DATA_DIR=tmp_path))
    assert len(secret) >= 32
    assert (tmp_path / "jwt_secret").read_text().strip() == secret


def test_redis_url_wins_over_host_and_port() -> None:
    settings = Settings(
        REDIS_URL="redis://cache.internal:6380/2", REDIS_HOST="ignored", REDIS_PORT=1
    )
    assert settings.redis_url == "redis://cache.internal:6380/2"


def test_redis_url_is_composed_from_host_port_and_password() -> None:
    assert Settings(REDIS_HOST="cache").redis_url == "redis://cache:6379/0"
    settings = Settings(REDIS_HOST="cache", REDIS_PORT=6380, REDIS_PASSWORD="pw")
    assert settings.redis_url == "redis://:pw@cache:6380/0"


def test_redis_password_with_reserved_characters_survives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss/w:rd#1")
    url = Settings().redis_url
    assert url is not None
    kwargs = Redis.from_url(url).connection_pool.connection_kwargs
    assert kwargs["host"] == "cache"
    assert kwargs["port"] == 6379
    assert kwargs["password"] == "p@ss/w:rd#1"


def test_no_redis_without_url_or_host() -> None:
    assert Settings(REDIS_PORT=6380, REDIS_PASSWORD="pw").redis_url is None


def test_production_refuses_weak_retired_jwt_keys() -> None:
    with pytest.raises(ValidationError) as failure:
        production(JWT_PREVIOUS_KEYS={"old": "short", "older": STRONG_SECRET})
    message = str(failure.value)
    assert "JWT_PREVIOUS_KEYS has weak keys: old" in message
    assert "older" not in message
    assert production(JWT_PREVIOUS_KEYS={"old": STRONG_SECRET}).JWT_PREVIOUS_KEYS


def test_production_never_falls_back_to_the_local_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without SOLANA_RPC_URL the service would run on a test mint: refused."""
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("AUTH_DOMAIN", "app.example.com")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/pourtier")
    monkeypatch.setenv("FEE_AUTHORITY_KEYPAIR", "fee-authority-secret-in-base58")
    with pytest.raises(ValidationError) as caught:
        create_app_from_environment()
    text = str(caught.value)
    for name in ("SOLANA_RPC_URL", "USDC_MINT", "TREASURY_TOKEN_ACCOUNT"):
        assert f"{name} is missing" in text
    assert "FEE_AUTHORITY_KEYPAIR is missing" not in text
    assert "fee-authority-secret" not in text


def test_the_sumsub_provider_names_the_secrets_it_lacks() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(KYC_PROVIDER="sumsub", SUMSUB_APP_TOKEN="token")
    text = str(caught.value)
    assert "SUMSUB_SECRET_KEY, KYC_WEBHOOK_SECRET" in text
    assert "SUMSUB_APP_TOKEN," not in text


def test_kyc_required_for_takes_only_known_actions() -> None:
    assert Settings(KYC_REQUIRED_FOR=["withdraw", "pro"]).KYC_REQUIRED_FOR == [
        "withdraw",
        "pro",
    ]
    with pytest.raises(ValidationError):
        Settings(KYC_REQUIRED_FOR=["everything"])
