"""The KYC domain: the state machine (every move, allowed or refused), a case
applying events, the personal details' parsing, and the policy's gates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from pourtier.domain.errors import Conflict, InvalidInput, PermissionDenied
from pourtier.domain.kyc import (
    COUNTRIES,
    NO_LIMIT,
    KycAction,
    KycCase,
    KycEvent,
    KycPolicy,
    KycRequired,
    PersonalDetails,
    RejectionType,
    may_move,
    parse_country,
    parse_date_of_birth,
    parse_legal_name,
)
from pourtier.domain.users import KycStatus

S = KycStatus
RETRY, FINAL = RejectionType.RETRY, RejectionType.FINAL
Origin = tuple[KycStatus, RejectionType | None]

# The workflow, written out here rather than read from the code: a
# user starts (pending with a provider, in_review with the manual one), a
# provider asks for more (in_review -> pending), anyone waiting is decided,
# a decision may be revised (verified -> rejected for fraud, rejected ->
# verified), a retry rejection lets the user start again, a final one only
# allows a revision to verified. Nothing goes back to not_started and no
# status "moves" to itself.
ALLOWED: dict[Origin, set[KycStatus]] = {
    (S.NOT_STARTED, None): {S.PENDING, S.IN_REVIEW},
    (S.PENDING, None): {S.IN_REVIEW, S.VERIFIED, S.REJECTED},
    (S.IN_REVIEW, None): {S.PENDING, S.VERIFIED, S.REJECTED},
    (S.VERIFIED, None): {S.REJECTED},
    (S.REJECTED, RETRY): {S.PENDING, S.IN_REVIEW, S.VERIFIED},
    (S.REJECTED, FINAL): {S.VERIFIED},
}
PAIRS = [
    pytest.param(origin, to, to in allowed, id=f"{origin[0]}/{origin[1]}->{to}")
    for origin, allowed in ALLOWED.items()
    for to in KycStatus
]
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)


def test_the_table_covers_every_status_and_rejection() -> None:
    assert {status for status, _ in ALLOWED} == set(KycStatus)
    assert len(PAIRS) == 6 * 5


@pytest.mark.parametrize(("origin", "to", "allowed"), PAIRS)
def test_may_move(origin: Origin, to: KycStatus, allowed: bool) -> None:
    assert may_move(origin[0], origin[1], to) is allowed


def case_in(
    status: KycStatus, rejection: RejectionType | None = None, at: datetime = T0
) -> KycCase:
    case = KycCase(uuid.uuid4(), "manual", T0, T0)
    case.status, case.rejection_type = status, rejection
    case.status_at = None if status is S.NOT_STARTED else at
    case.reason = "earlier reason" if rejection else None
    return case


def event_for(
    case: KycCase,
    status: KycStatus,
    at: datetime,
    rejection: RejectionType | None = None,
    reason: str | None = None,
) -> KycEvent:
    return KycEvent(
        case.user_id,
        status,
        at,
        "operator:test",
        at + timedelta(seconds=5),
        rejection_type=rejection,
        reason=reason,
    )


@pytest.mark.parametrize(("origin", "to", "allowed"), PAIRS)
def test_apply_follows_the_machine(
    origin: Origin, to: KycStatus, allowed: bool
) -> None:
    """A newer event to another status: applied if allowed, else Conflict and
    the case untouched. Same status: a no-op (rejections aside, below)."""
    case = case_in(*origin)
    rejection = RETRY if to is S.REJECTED else None
    event = event_for(case, to, T0 + timedelta(minutes=1), rejection, "why")
    before = vars(case).copy()
    if to is origin[0] and rejection is origin[1]:
        assert case.apply(event) is False
        assert vars(case) == before
    elif allowed:
        assert case.apply(event) is True
        assert (case.status, case.rejection_type) == (to, rejection)
        assert case.status_at == event.occurred_at
        assert case.updated_at == event.recorded_at
        assert case.reason == "why"
    else:
        with pytest.raises(Conflict):
            case.apply(event)
        assert vars(case) == before


def test_an_event_older_than_the_status_changes_nothing() -> None:
    case = case_in(S.IN_REVIEW)
    older = event_for(case, S.VERIFIED, T0 - timedelta(microseconds=1))
    assert case.apply(older) is False
    assert (case.status, case.status_at, case.updated_at) == (S.IN_REVIEW, T0, T0)


def test_an_event_of_the_same_time_is_applied() -> None:
    case = case_in(S.IN_REVIEW)
    assert case.apply(event_for(case, S.VERIFIED, T0)) is True
    assert case.status is S.VERIFIED


def test_a_stale_event_is_ignored_even_if_the_move_is_refused() -> None:
    """Late, out-of-order deliveries are harmless: no Conflict for them."""
    case = case_in(S.VERIFIED)
    assert case.apply(event_for(case, S.PENDING, T0 - timedelta(hours=1))) is False
    assert case.status is S.VERIFIED


def test_the_same_status_again_is_a_no_op() -> None:
    case = case_in(S.VERIFIED)
    assert case.apply(event_for(case, S.VERIFIED, T0 + timedelta(days=1))) is False
    assert (case.status_at, case.updated_at) == (T0, T0)


def test_a_final_rejection_is_revisable_only_to_verified() -> None:
    later = T0 + timedelta(minutes=1)
    for status, rejection in [
        (S.PENDING, None),
        (S.IN_REVIEW, None),
        (S.NOT_STARTED, None),
        (S.REJECTED, RETRY),  # not softened into a retry by a later event
    ]:
        case = case_in(S.REJECTED, FINAL)
        with pytest.raises(Conflict, match="final rejection"):
            case.apply(event_for(case, status, later, rejection))
        assert case.is_final
    case = case_in(S.REJECTED, FINAL)
    assert case.apply(event_for(case, S.VERIFIED, later)) is True
    assert (case.status, case.rejection_type, case.is_final) == (
        S.VERIFIED,
        None,
        False,
    )


def test_a_retry_rejection_may_become_final() -> None:
    case = case_in(S.REJECTED, RETRY)
    assert case.apply(event_for(case, S.REJECTED, T0 + timedelta(1), FINAL)) is True
    assert case.is_final


def test_a_retry_goes_back_to_pending_and_forgets_the_rejection() -> None:
    case = case_in(S.REJECTED, RETRY)
    assert case.apply(event_for(case, S.PENDING, T0 + timedelta(minutes=1))) is True
    assert (case.status, case.rejection_type, case.reason) == (S.PENDING, None, None)
    assert not case.is_final


# --- personal details --------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "today", "adult"),
    [
        ("2008-12-03", TODAY, True),  # eighteen today
        ("2008-12-04", TODAY, False),  # eighteen tomorrow
        ("2008-12-02", TODAY, True),
        ("2008-02-29", date(2026, 2, 28), False),  # a leap-day birthday
        ("2008-02-29", date(2026, 3, 1), True),
        ("1900-01-01", TODAY, True),
        ("1899-12-31", TODAY, False),  # not a plausible living adult
        ("2026-12-04", TODAY, False),  # in the future
    ],
)
def test_date_of_birth_must_be_an_adults(born: str, today: date, adult: bool) -> None:
    if adult:
        assert parse_date_of_birth(born, today) == date.fromisoformat(born)
    else:
        with pytest.raises(InvalidInput, match="adult"):
            parse_date_of_birth(born, today)


@pytest.mark.parametrize(
    "text",
    [
        "1990-4-21",
        "21/04/1990",
        "19900421",
        "1990-04-21T00:00",
        "1990-02-30",
        "1990-13-01",
        "",
        " 1990-04-21",
        "1990-W16-6",  # an ISO week date: 10 characters, but not YYYY-MM-DD
        "\uff11\uff19\uff19\uff10-04-21",  # fullwidth digits
        "tomorrow!!",
    ],
)
def test_date_of_birth_is_yyyy_mm_dd_only(text: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        parse_date_of_birth(text, TODAY)


@pytest.mark.parametrize("code", ["XX", "UK", "EU", "ZZ", "", "F", "FRA", "1A"])
def test_unassigned_country_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="ISO 3166-1"):
        parse_country(code)


@pytest.mark.parametrize(("code", "parsed"), [("FR", "FR"), ("fr", "FR"), ("gb", "GB")])
def test_country_codes_are_upper_cased(code: str, parsed: str) -> None:
    assert parse_country(code) == parsed


def test_every_assigned_code_is_known() -> None:
    assert len(COUNTRIES) == 249
    assert {"FR", "GB", "US", "DE", "JP", "SS", "BQ"} <= COUNTRIES


def test_legal_name_whitespace_is_folded() -> None:
    assert parse_legal_name("  Jean \t Pierre\n  Dupont ") == "Jean Pierre Dupont"
    assert parse_legal_name("x" * 200) == "x" * 200


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201, "Jean\x00Dupont"])
def test_legal_name_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="legal_name"):
        parse_legal_name(name)


def test_parse_builds_the_details_and_repr_redacts_them() -> None:
    details = PersonalDetails.parse("  Ada   Lovelace ", "1990-04-21", "gb", TODAY)
    assert details == PersonalDetails("Ada Lovelace", date(1990, 4, 21), "GB")
    assert details.to_json() == {
        "legal_name": "Ada Lovelace",
        "date_of_birth": "1990-04-21",
        "country": "GB",
    }
    for shown in (repr(details), str(details), f"{details}", repr([details])):
        assert "Lovelace" not in shown
        assert "1990" not in shown
        assert "redacted" in shown


# --- policy ------------------------------------------------------------------

LIMIT = 10_000_000  # 10 USDC
UNVERIFIED = [s for s in KycStatus if s is not S.VERIFIED]


@pytest.mark.parametrize("status", UNVERIFIED)
def test_deposits_up_to_the_limit_exactly_are_allowed(status: KycStatus) -> None:
    policy = KycPolicy(LIMIT)
    policy.check_deposit(status, 0, LIMIT)
    policy.check_deposit(status, 6_000_000, 4_000_000)
    with pytest.raises(KycRequired) as refused:
        policy.check_deposit(status, 6_000_000, 4_000_001)
    assert refused.value.extra() == {"kyc_status": status.value, "requirement": "kyc"}
    assert "10.000000 USDC" in refused.value.detail
    assert isinstance(refused.value, PermissionDenied)  # answered 403
    with pytest.raises(KycRequired):
        policy.check_deposit(status, LIMIT + 1, 0)


def test_a_verified_user_deposits_without_limit() -> None:
    KycPolicy(0).check_deposit(S.VERIFIED, 2**63, 2**63)


def test_the_default_policy_limits_nothing() -> None:
    policy = KycPolicy()
    assert policy.unverified_deposit_limit == NO_LIMIT
    policy.check_deposit(S.NOT_STARTED, 2**64 - 2, 1)
    for action in KycAction:
        policy.check(S.NOT_STARTED, action)


@pytest.mark.parametrize("required", list(KycAction))
@pytest.mark.parametrize("status", list(KycStatus))
def test_required_for_gates_only_its_actions(
    required: KycAction, status: KycStatus
) -> None:
    policy = KycPolicy(required_for=frozenset({required}))
    for action in KycAction:
        if action is required and status is not S.VERIFIED:
            with pytest.raises(KycRequired) as refused:
                policy.check(status, action)
            assert refused.value.status is status
            assert str(action) in refused.value.detail
        else:
            policy.check(status, action)
