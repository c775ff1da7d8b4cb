"""The KYC provider and the vault of personal details, chosen by the settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.application.kyc import KycUseCases
from pourtier.config import Settings
from pourtier.domain.kyc import KycProvider
from pourtier.infrastructure.kyc.manual import ManualProvider
from pourtier.infrastructure.kyc.sumsub import SumsubProvider
from pourtier.infrastructure.kyc.vault import FernetVault, load_or_create_key


def build_kyc(settings: Settings, uow: UnitOfWorkFactory, clock: Clock) -> KycUseCases:
    key = (
        settings.KYC_ENCRYPTION_KEY.get_secret_value().encode()
        if settings.KYC_ENCRYPTION_KEY
        else load_or_create_key(settings.POURTIER_DATA_DIR)
    )
    return KycUseCases(
        uow=uow,
        clock=clock,
        provider=_provider(settings),
        vault=FernetVault(key),
        reconcile_after=timedelta(minutes=settings.KYC_RECONCILE_AFTER_MINUTES),
    )


def _provider(settings: Settings) -> KycProvider:
    if settings.KYC_PROVIDER == "manual":
        return ManualProvider()
    return SumsubProvider(
        base_url=settings.SUMSUB_BASE_URL,
        app_token=_secret(settings.SUMSUB_APP_TOKEN),
        secret_key=_secret(settings.SUMSUB_SECRET_KEY),
        level_name=settings.SUMSUB_LEVEL_NAME,
        webhook_secret=_secret(settings.KYC_WEBHOOK_SECRET),
    )


def _secret(value: SecretStr | None) -> str:
    assert value is not None  # Settings refuses sumsub without its secrets
    return value.get_secret_value()
