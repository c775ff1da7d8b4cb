"""Roles and audit entries, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pourtier.domain.audit import Actor, ActorType, AuditAction, AuditEntry
from pourtier.domain.users import Role, RolePolicy, User

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WALLET = "7VHUFJHWu2CuExkJcJrzhQPJ2oygupTWkL2A2For4BmE"
OTHER = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def test_a_user_is_an_admin_by_stored_role_or_by_configuration() -> None:
    policy = RolePolicy(frozenset({WALLET}))
    configured = User.register(WALLET, NOW)
    plain = User.register(OTHER, NOW)
    assert policy.roles(configured) == (Role.ADMIN,)
    assert policy.roles(plain) == ()
    plain.role = Role.ADMIN
    assert policy.is_admin(plain)
    assert RolePolicy().roles(configured) == ()


def test_setting_a_role_says_whether_anything_changed() -> None:
    user = User.register(WALLET, NOW)
    assert user.role == Role.USER
    later = datetime(2026, 12, 4, tzinfo=UTC)
    assert user.set_role(Role.ADMIN, later)
    assert (user.role, user.updated_at) == (Role.ADMIN, later)
    assert not user.set_role(Role.ADMIN, NOW)
    assert user.updated_at == later


def test_an_entry_names_its_actor_target_and_change() -> None:
    admin = User.register(WALLET, NOW)
    actor = Actor.admin(admin, "req-1", "203.0.113.7")
    target = uuid.uuid4()
    entry = AuditEntry.of(
        actor, AuditAction.SESSIONS_REVOKE, ("user", target), NOW
    ).changed(None, {"sessions_ended": []})
    assert entry.actor_type == ActorType.USER
    assert (entry.actor_id, entry.actor_wallet) == (admin.id, WALLET)
    assert (entry.action, entry.target_type) == ("sessions.revoke", "user")
    assert entry.target_id == str(target)
    assert (entry.request_id, entry.ip_address) == ("req-1", "203.0.113.7")
    assert entry.before is None
    cli = AuditEntry.of(Actor.cli(), AuditAction.ROLE_GRANT, ("user", None), NOW)
    assert (cli.actor_type, cli.actor_id, cli.actor_wallet) == ("cli", None, None)
    assert cli.target_id is None
