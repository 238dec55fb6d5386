"""Meta-tests that can fail: the hand-written hook table in docs/plugins.md and the tests' coverage of every hook."""

from __future__ import annotations

import re
from pathlib import Path

from asrkit import hookspecs
from asrkit.interfaces import INTERFACES

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (\w+) \| `(asrkit_\w+)` \| `(\w+)` \|", re.MULTILINE)


def hook_specs() -> set[str]:
    """Every function of asrkit.hookspecs marked as a hook spec."""
    return {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec")}


def test_the_hook_table_in_the_plugin_guide_matches_the_specs() -> None:
    table = ROW.findall((ROOT / "docs" / "plugins.md").read_text(encoding="utf-8"))
    assert table, "docs/plugins.md has no hook table (| kind | `hook` | `Base` | ...)"
    documented = {hook: (kind, base) for kind, hook, base in table}
    assert hook_specs() == {*hookspecs.HOOK_KINDS, *hookspecs.OTHER_HOOKS}, "a hook spec is in neither list"
    assert set(documented) == set(hookspecs.HOOK_KINDS), "the table's hooks differ from asrkit.hookspecs"
    for hook, (kind, base) in documented.items():
        assert hookspecs.HOOK_KINDS[hook] == kind, f"docs/plugins.md gives {hook} the kind {kind}"
        assert INTERFACES[kind].__name__ == base, f"docs/plugins.md gives {kind} the base class {base}"


def test_every_hook_spec_is_implemented_by_a_test_plugin() -> None:
    sources = {
        path: path.read_text(encoding="utf-8")
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name and "build" not in path.parts
    }
    for hook in sorted(hook_specs()):
        users = [path.name for path, text in sources.items() if re.search(rf"def {hook}\(", text)]
        assert users, f"no test registers a plugin implementing {hook}"


def test_the_hooks_that_register_no_component_are_described_in_the_plugin_guide() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for hook in hookspecs.OTHER_HOOKS:
        assert re.search(rf"^`{hook}`\n:   \S", guide, re.MULTILINE), f"docs/plugins.md does not describe {hook}"
