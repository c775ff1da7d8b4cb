"""Plans, proration and access rules: pure domain, no I/O."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pourtier.domain.errors import Conflict
from pourtier.domain.subscriptions import (
    GRACE,
    PERIOD,
    PlanName,
    Subscription,
    SubscriptionStatus,
    default_plans,
    prorated_upgrade,
)

BASIC, PRO = 29_990_000, 99_990_000
PLANS = default_plans(BASIC, PRO)
START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + PERIOD
US = timedelta(microseconds=1)


def subscription(
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    *,
    auto_renew: bool = True,
    cancel_at_period_end: bool = False,
    updated_at: datetime = START,
) -> Subscription:
    return Subscription(
        user_id=uuid.uuid4(),
        plan=PlanName.BASIC,
        status=status,
        current_period_start=START,
        current_period_end=END,
        created_at=START,
        updated_at=updated_at,
        auto_renew=auto_renew,
        cancel_at_period_end=cancel_at_period_end,
    )


# --- plans -----------------------------------------------------------------------


def test_default_plans_limit_basic_to_one_strategy_and_rank_pro_above() -> None:
    basic, pro = PLANS[PlanName.BASIC], PLANS[PlanName.PRO]
    assert (basic.price, basic.max_active_strategies, basic.period) == (
        BASIC,
        1,
        timedelta(days=30),
    )
    assert (pro.price, pro.max_active_strategies) == (PRO, None)
    assert set(basic.features) < set(pro.features)
    assert "unlimited_strategies" in pro.features
    assert basic.rank < pro.rank


def test_live_statuses_are_the_ones_that_block_a_second_subscription() -> None:
    live = {s for s in SubscriptionStatus if s.is_live}
    assert live == {
        SubscriptionStatus.PENDING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
    }


# --- proration -------------------------------------------------------------------


def test_upgrading_a_third_into_the_period_charges_two_thirds_rounded_up() -> None:
    basic, pro = PLANS[PlanName.BASIC], PLANS[PlanName.PRO]
    charged = prorated_upgrade(basic, pro, START, END, START + 10 * PERIOD / 30)
    assert charged == math.ceil((PRO - BASIC) * 2 / 3) == 46_666_667


def test_proration_at_the_edges() -> None:
    basic, pro = PLANS[PlanName.BASIC], PLANS[PlanName.PRO]
    difference = PRO - BASIC
    assert prorated_upgrade(basic, pro, START, END, START) == difference
    assert prorated_upgrade(basic, pro, START, END, START - PERIOD) == difference
    assert prorated_upgrade(basic, pro, START, END, END - US) == 1
    assert prorated_upgrade(basic, pro, START, END, END) == 0
    assert prorated_upgrade(basic, pro, START, END, END + PERIOD) == 0
    assert prorated_upgrade(pro, basic, START, END, START) == 0  # a downgrade
    assert prorated_upgrade(basic, pro, START, START, START) == 0  # empty period


periods = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=90))
prices = st.integers(min_value=0, max_value=10**12)


@given(
    low=prices,
    extra=prices,
    length=periods,
    offset=st.timedeltas(min_value=timedelta(days=-100), max_value=timedelta(days=100)),
)
def test_proration_is_the_exact_ceiling_of_the_unused_share(
    low: int, extra: int, length: timedelta, offset: timedelta
) -> None:
    plans = default_plans(low, low + extra)
    end = START + length
    now = START + offset
    charged = prorated_upgrade(
        plans[PlanName.BASIC], plans[PlanName.PRO], START, end, now
    )
    left = min(max(end - now, timedelta(0)), length)
    expected = math.ceil(Fraction(extra) * Fraction(left // US, length // US))
    assert charged == expected
    assert 0 <= charged <= extra


@given(
    length=periods,
    first=st.floats(min_value=0, max_value=1),
    second=st.floats(min_value=0, max_value=1),
)
def test_proration_never_grows_as_the_period_runs(
    length: timedelta, first: float, second: float
) -> None:
    basic, pro = PLANS[PlanName.BASIC], PLANS[PlanName.PRO]
    earlier, later = sorted((first, second))
    end = START + length
    assert prorated_upgrade(
        basic, pro, START, end, START + length * earlier
    ) >= prorated_upgrade(basic, pro, START, end, START + length * later)


# --- access ----------------------------------------------------------------------


def test_a_renewing_subscription_keeps_access_through_the_grace_period() -> None:
    for status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
        renewing = subscription(status)
        assert renewing.access_until() == END + GRACE == END + timedelta(days=3)
        assert renewing.has_access(END + GRACE - US)
        assert not renewing.has_access(END + GRACE)
        assert renewing.access_until(timedelta(days=1)) == END + timedelta(days=1)
        assert not renewing.has_access(END + timedelta(days=1), timedelta(days=1))


@pytest.mark.parametrize(
    ("auto_renew", "cancel_at_period_end"), [(False, False), (True, True)]
)
def test_an_ending_subscription_has_access_until_the_period_end_only(
    auto_renew: bool, cancel_at_period_end: bool
) -> None:
    ending = subscription(
        auto_renew=auto_renew, cancel_at_period_end=cancel_at_period_end
    )
    assert ending.access_until() == END
    assert ending.has_access(START)
    assert ending.has_access(END - US)
    assert not ending.has_access(END)


def test_pending_canceled_and_expired_subscriptions_grant_nothing() -> None:
    pending = subscription(SubscriptionStatus.PENDING)
    canceled = subscription(SubscriptionStatus.CANCELED)
    early = subscription(SubscriptionStatus.EXPIRED, updated_at=START + PERIOD / 2)
    late = subscription(SubscriptionStatus.EXPIRED, updated_at=END + GRACE)
    assert pending.access_until() == canceled.access_until() == START
    assert early.access_until() == START + PERIOD / 2
    assert late.access_until() == END
    for ended in (pending, canceled, early, late):
        assert not ended.has_access(START + timedelta(hours=1))
        assert not ended.has_access(START - timedelta(hours=1))


def test_access_before_the_period_starts_is_granted_to_a_paid_subscription() -> None:
    """Clock skew between services must not deny a paid subscription."""
    assert subscription().has_access(START - timedelta(seconds=5))


# --- plan changes ----------------------------------------------------------------


def test_the_plan_may_change_within_a_paid_period_with_no_charge_in_flight() -> None:
    active = subscription()
    active.check_plan_change(START, charge_in_flight=False)
    active.check_plan_change(END - US, charge_in_flight=False)


@pytest.mark.parametrize(
    ("status", "now", "in_flight", "reason"),
    [
        (SubscriptionStatus.ACTIVE, START, True, "in flight"),
        (SubscriptionStatus.PENDING, START, False, "in flight"),
        (SubscriptionStatus.PAST_DUE, END + US, False, "overdue"),
        (SubscriptionStatus.ACTIVE, END, False, "is being renewed"),
        (SubscriptionStatus.ACTIVE, END + GRACE, True, "in flight"),
    ],
)
def test_the_plan_stays_put_while_a_charge_decides_or_the_period_is_over(
    status: SubscriptionStatus, now: datetime, in_flight: bool, reason: str
) -> None:
    with pytest.raises(Conflict, match=reason):
        subscription(status).check_plan_change(now, charge_in_flight=in_flight)


def test_an_ending_subscription_past_its_period_says_so() -> None:
    with pytest.raises(Conflict, match="is ending"):
        subscription(cancel_at_period_end=True).check_plan_change(
            END, charge_in_flight=False
        )
