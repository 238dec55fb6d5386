"""Meta-tests: every hook is documented under docs/, and the generated references are current."""

from __future__ import annotations

import pytest

from asrkit import hookspecs
from asrkit.reference import PAGES


def test_every_hook_spec_has_a_docstring_and_is_documented(repo_root):
    docs = "\n".join(p.read_text() for p in (repo_root / "docs").rglob("*.md"))
    for name in (*hookspecs.HOOK_KINDS, *hookspecs.OTHER_HOOKS):
        function = getattr(hookspecs, name)
        assert function.__doc__ and len(function.__doc__) > 100, f"{name} needs a full docstring"
        assert f"`{name}`" in docs, f"{name} is not documented under docs/"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_reference_is_current(repo_root, page):
    committed = (repo_root / "docs" / "reference" / page).read_text()
    assert committed == PAGES[page](), f"docs/reference/{page} is stale: run python -m asrkit.reference docs/reference"
