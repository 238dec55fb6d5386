"""The kind table (asrkit.kinds) is the one record of every component kind: everything else must agree with it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from asrkit import hookspecs, interfaces
from asrkit.checks.components import BEHAVIOUR
from asrkit.cli.plugins import normalize_kind
from asrkit.kinds import KIND_TABLE, KINDS, RECIPE_SECTIONS
from asrkit.plugins import BUILTIN_PLUGINS
from asrkit.recipe import TOP_LEVEL_KEYS, Recipe
from asrkit.reference import components_markdown
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent


def test_the_hook_specs_register_exactly_the_kinds_of_the_table() -> None:
    registering = {name for name in vars(hookspecs) if name.startswith("asrkit_register_")}
    assert registering == {kind.hook for kind in KIND_TABLE}
    assert {kind.hook: kind.name for kind in KIND_TABLE} == hookspecs.HOOK_KINDS
    for kind in KIND_TABLE:
        assert hasattr(getattr(hookspecs, kind.hook), "asrkit_spec"), f"{kind.hook} is not marked @hookspec"


def test_each_kind_has_its_interface_and_contract_check() -> None:
    assert list(interfaces.INTERFACES) == list(KINDS)
    for kind in KIND_TABLE:
        assert interfaces.INTERFACES[kind.name].__name__ == kind.interface
    assert set(BEHAVIOUR) == set(KINDS), "asrkit.testing needs one contract check per kind"


def test_the_recipe_schema_has_a_section_per_kind() -> None:
    fields = {f.name for f in dataclasses.fields(Recipe)}
    for kind in RECIPE_SECTIONS:
        assert kind.recipe_key in TOP_LEVEL_KEYS and kind.recipe_key in fields
    assert [k for k in TOP_LEVEL_KEYS if k not in ("requires", "data", "train")] == [
        kind.recipe_key for kind in RECIPE_SECTIONS
    ]
    assert {kind.name for kind in KIND_TABLE if not kind.in_recipe_root} == {"datasets"}  # under data.*


def test_the_builtins_register_every_kind_and_list_plugins_knows_them() -> None:
    registry = load_registry(autoload=False)
    for kind in KIND_TABLE:
        assert registry.components(kind.name), f"no built-in {kind.name}"
        assert normalize_kind(kind.name) == normalize_kind(kind.name.rstrip("s")) == kind.name
    assert {name for name, _ in BUILTIN_PLUGINS} == {f"asrkit_{kind.name}" for kind in KIND_TABLE}
    reference = components_markdown()
    assert [k for k in re.findall(r"^## (\w+)$", reference, re.M)] == list(KINDS)


def test_the_plugin_tutorial_table_is_the_kind_table() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \| `(\w+)` \| `(\w+)` \| `(.+)` \|$", text, re.M)
    assert rows == [(k.name, k.hook, k.interface, k.built_as) for k in KIND_TABLE]
