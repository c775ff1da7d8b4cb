from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from pourtier.domain.errors import InvalidInput
from pourtier.domain.kyc import (
    LEGAL_NAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    KycCase,
    KycEvent,
    PersonalDetails,
    RejectionType,
    parse_country,
    parse_date_of_birth,
    parse_legal_name,
)
from pourtier.domain.users import KycStatus
from pourtier.presentation.schemas.common import Out, RequestBody


def _field(parse: Any) -> AfterValidator:
    """A domain parser as a field validator: its message, under the field's name."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse(value)
        except InvalidInput as error:
            raise ValueError(error.detail) from None
        return value

    return AfterValidator(check)


PERSONAL = ("legal_name", "date_of_birth", "country")


def _adult(value: str) -> date:
    return parse_date_of_birth(value, datetime.now(UTC).date())


class KycStartIn(RequestBody):
    """The manual provider's personal details; other providers take none."""

    legal_name: Annotated[
        str | None,
        Field(default=None, max_length=LEGAL_NAME_MAX_LENGTH * 2),
        _field(parse_legal_name),
    ] = None
    date_of_birth: Annotated[
        str | None,
        Field(default=None, max_length=10, examples=["1990-04-21"]),
        _field(_adult),
    ] = None
    country: Annotated[
        str | None,
        Field(default=None, max_length=2, description="ISO 3166-1 alpha-2"),
        _field(parse_country),
    ] = None

    @model_validator(mode="after")
    def _all_or_none(self) -> KycStartIn:
        missing = [name for name in PERSONAL if getattr(self, name) is None]
        if 0 < len(missing) < len(PERSONAL):
            raise ValueError(f"{', '.join(missing)} missing: give all three or none")
        return self

    def details(self, today: date) -> PersonalDetails | None:
        if self.legal_name is None or self.date_of_birth is None or not self.country:
            return None
        return PersonalDetails.parse(
            self.legal_name, self.date_of_birth, self.country, today
        )


class RejectionOut(Out):
    type: str
    reason: str | None


class KycOut(Out):
    status: str
    provider: str
    rejection: RejectionOut | None
    updated_at: datetime | None = Field(description="When the status was set")

    @classmethod
    def of(cls, case: KycCase) -> KycOut:
        rejected = case.status is KycStatus.REJECTED and case.rejection_type
        rejection = {"type": case.rejection_type, "reason": case.reason}
        return cls.model_validate(
            vars(case)
            | {
                "rejection": rejection if rejected else None,
                "updated_at": case.status_at,
            }
        )


class KycStartOut(Out):
    status: str
    provider: str
    applicant_id: str | None = Field(description="The provider's applicant (sumsub)")
    sdk_token: str | None = Field(description="Token for the provider's web SDK")

    @classmethod
    def of(cls, case: KycCase, sdk_token: str | None) -> KycStartOut:
        return cls.model_validate(vars(case) | {"sdk_token": sdk_token})


class KycCaseOut(Out):
    """A case as operators see it in the review queue (no personal details)."""

    user_id: uuid.UUID
    status: str
    provider: str
    status_at: datetime | None = Field(description="Since when it is in `status`")
    applicant_id: str | None
    rejection_type: str | None
    reason: str | None
    updated_at: datetime


class PersonalDetailsOut(Out):
    legal_name: str
    date_of_birth: date
    country: str


class KycEventOut(Out):
    status: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    event_id: str | None
    rejection_type: str | None
    reason: str | None


class KycRecordOut(Out):
    """A user's KYC for operators: the case, the decrypted details, the history."""

    case: KycCaseOut | None
    details: PersonalDetailsOut | None
    events: list[KycEventOut]

    @classmethod
    def of(
        cls,
        case: KycCase | None,
        details: PersonalDetails | None,
        events: list[KycEvent],
    ) -> KycRecordOut:
        return cls.model_validate({"case": case, "details": details, "events": events})


class DecisionIn(RequestBody):
    decision: Literal["approve", "reject"]
    rejection_type: RejectionType | None = Field(
        default=None, description="Required to reject: may the user retry?"
    )
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
