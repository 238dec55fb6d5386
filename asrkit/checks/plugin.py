"""Whole-plugin checks: what ``check_plugin``, ``asrkit doctor`` and ``list-plugins`` warn about.

A plugin is a module (or object) whose ``@asrkit.hookimpl`` functions return
lists of component classes. The mistakes that make a plugin silently useless
are found here: a hook function without ``@hookimpl`` (pluggy ignores it), a
misspelled hook name, a hook returning a class instead of a list, a plugin
that registers nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from asrkit.checks import ContractError
from asrkit.config import did_you_mean
from asrkit.hookspecs import HOOK_KINDS, OTHER_HOOKS, PROJECT

HOOK_PREFIX = "asrkit_"
KNOWN_HOOKS = (*HOOK_KINDS, *OTHER_HOOKS)
MARKER = f"{PROJECT}_impl"
"""The attribute pluggy's ``HookimplMarker('asrkit')`` sets on a marked function."""


@dataclass
class PluginReport:
    """What a plugin registers, per kind, and what is wrong with it (one line each)."""

    name: str
    components: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def hook_problems(plugin: object) -> list[str]:
    """The hook functions of ``plugin`` that pluggy would silently ignore or refuse: unmarked or misnamed."""
    problems = []
    for attribute in sorted(dir(plugin)):
        function = getattr(plugin, attribute, None)
        if not callable(function) or isinstance(function, type):
            continue
        marked = getattr(function, MARKER, None) is not None
        looks_like_hook = attribute.startswith(HOOK_PREFIX)
        if not (marked or looks_like_hook):
            continue
        if attribute not in KNOWN_HOOKS:
            problems.append(
                f"'{attribute}' is not an asrkit hook; hooks: {', '.join(KNOWN_HOOKS)}"
                + did_you_mean(attribute, list(KNOWN_HOOKS))
            )
        elif not marked:
            problems.append(
                f"'{attribute}' is not marked @asrkit.hookimpl, so it is never called and registers nothing"
            )
    return problems


def hook_result_problem(hook_name: str, result: Any) -> str | None:
    """Why ``result``, returned by hook ``hook_name``, is not a list of classes; None when it is one."""
    kind = HOOK_KINDS[hook_name]
    if not isinstance(result, list | tuple):
        what = f"the class {result.__qualname__}" if isinstance(result, type) else f"a {type(result).__name__}"
        return f"hook {hook_name} returned {what} instead of a list of {kind} classes"
    for item in result:
        if not isinstance(item, type):
            return f"hook {hook_name} returned a list holding {item!r}, not a class"
    return None


def inspect_plugin(plugin: Any) -> PluginReport:
    """Every problem of ``plugin`` (a module, a module name or a distribution name) and what it registers."""
    objects = _resolve(plugin)
    name = plugin if isinstance(plugin, str) else getattr(plugin, "__name__", type(plugin).__name__)
    report = PluginReport(name)
    for label, obj in objects:
        prefix = f"{label}: " if len(objects) > 1 else ""
        report.problems += [prefix + problem for problem in hook_problems(obj)]
        for hook_name, kind in HOOK_KINDS.items():
            function = getattr(obj, hook_name, None)
            if function is None or getattr(function, MARKER, None) is None:
                continue
            _inspect_hook(report, prefix, hook_name, kind, function)
    other_hooks = any(
        getattr(getattr(obj, hook, None), MARKER, None) is not None for _, obj in objects for hook in OTHER_HOOKS
    )
    if not any(report.components.values()) and not other_hooks:
        report.problems.append("registers no component (no @asrkit.hookimpl function returned a class)")
    return report


def _inspect_hook(report: PluginReport, prefix: str, hook_name: str, kind: str, function: Any) -> None:
    from asrkit.checks.static import check_static

    try:
        result = function()
    except Exception as exc:
        report.problems.append(f"{prefix}hook {hook_name} raised {type(exc).__name__}: {exc}")
        return
    problem = hook_result_problem(hook_name, result)
    if problem:
        report.problems.append(prefix + problem)
        return
    for cls in result:
        try:
            check_static(kind, cls)
        except ContractError as exc:
            report.problems.append(f"{prefix}{exc}")
            continue
        report.components.setdefault(kind, []).append(cls.name)


def _resolve(plugin: Any) -> list[tuple[str, object]]:
    """``[(label, plugin object)]``: the module itself, the module named, or a distribution's entry points."""
    if not isinstance(plugin, str):
        return [(getattr(plugin, "__name__", "plugin"), plugin)]
    entry_points = [
        ep
        for ep in importlib.metadata.entry_points(group="asrkit")
        if ep.dist is not None and _normal(ep.dist.name) == _normal(plugin)
    ]
    if entry_points:
        return [(ep.name, ep.load()) for ep in entry_points]
    try:
        module: ModuleType = importlib.import_module(plugin)
    except ModuleNotFoundError:
        raise ContractError(
            f"plugin {plugin}: neither an installed distribution with 'asrkit' entry points nor an importable module"
        ) from None
    return [(plugin, module)]


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
