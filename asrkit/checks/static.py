"""The static part of a component's contract: name, docstring, base class, Config."""

from __future__ import annotations

import dataclasses
import inspect
import re

from asrkit.checks import expect
from asrkit.config import build_config, describe, field_types, to_dict
from asrkit.interfaces import INTERFACES

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]*$")


def check_static(kind: str, cls: type) -> None:
    """Raise :class:`asrkit.checks.ContractError` unless ``cls`` is shaped as a component of ``kind``."""
    name = getattr(cls, "name", None)
    who = f"{kind} {cls.__qualname__}" if not isinstance(name, str) else f"{kind} '{name}'"
    expect(isinstance(cls, type), who, "a component must be a class", got=cls)
    expect(
        isinstance(name, str) and NAME_PATTERN.match(name), who, f"name must match {NAME_PATTERN.pattern}", name=name
    )
    expect(inspect.getdoc(cls), who, "needs a docstring (its first line is shown by list-plugins)")
    base = INTERFACES[kind]
    expect(issubclass(cls, base), who, f"must derive from asrkit.interfaces.{base.__name__}", bases=cls.__mro__[1:])
    config_cls = getattr(cls, "Config", None)
    expect(dataclasses.is_dataclass(config_cls), who, "needs a Config dataclass", Config=config_cls)
    expect(config_cls.__dataclass_params__.frozen, who, "Config must be frozen (@dataclass(frozen=True))")
    field_types(config_cls)  # every annotation resolves
    for info in describe(config_cls):
        expect(info.help, who, f"parameter '{info.name}' needs a help text (asrkit.config.param)")
    abstract = sorted(getattr(cls, "__abstractmethods__", frozenset()))
    expect(not abstract, who, "leaves abstract methods unimplemented", abstract=abstract)
    try:
        defaults = config_cls()
    except TypeError:
        return
    # What `asrkit show` prints must be accepted back as a recipe node.
    restored = build_config(config_cls, to_dict(defaults), name)
    expect(restored == defaults, who, "the defaults written as a recipe node must read back equal", restored=restored)
