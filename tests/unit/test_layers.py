"""HTTP lives in presentation/: the core names outcomes, the routes give statuses."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from pourtier.application.subscription_answers import Outcome

SRC = Path(__file__).resolve().parents[2] / "src" / "pourtier"
WEB = ("fastapi", "starlette", "pourtier.presentation")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_core_imports_nothing_of_the_web() -> None:
    for layer in ("domain", "application"):
        for path in (SRC / layer).rglob("*.py"):
            web = {m for m in imported_modules(path) if m.startswith(WEB)}
            assert not web, f"{path.relative_to(SRC)} imports {web}"


def test_subscribe_outcomes_are_words_and_each_answer_has_one_status() -> None:
    assert all(not isinstance(outcome.value, int) for outcome in Outcome)
    from pourtier.presentation.routes.subscriptions import STATUS_OF

    answered = set(Outcome) - {Outcome.IN_PROGRESS}  # stored only, never answered
    assert set(STATUS_OF) == answered
    assert len(set(STATUS_OF.values())) == len(STATUS_OF)


def test_the_client_speaks_only_through_the_api() -> None:
    """`pourtier.client` reuses the domain's words and the API's schemas, and
    nothing that serves: no database, web framework or composition root."""
    allowed = ("pourtier.client", "pourtier.domain", "pourtier.presentation.schemas")
    for path in (SRC / "client").rglob("*.py"):
        ours = {m for m in imported_modules(path) if m.startswith("pourtier")}
        assert all(m.startswith(allowed) for m in ours), f"{path.name}: {ours}"
    probe = (
        "import sys, pourtier.client.cli; "
        "print(sorted({'fastapi', 'sqlalchemy', 'uvicorn'} & set(sys.modules)))"
    )
    loaded = subprocess.run(  # noqa: S603 - this Python, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
