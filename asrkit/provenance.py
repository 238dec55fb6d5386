"""Which installed distributions provide a recipe's components, recorded in its ``requires``.

A run records the distributions behind every component it used, overrides
included, so that its recipe and checkpoints say what to install to use them
again (``requires: []`` by accident is how a model became unusable elsewhere).
Only installed distributions are recorded: a plugin registered in-process by a
test has nothing to install.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

CORE_DISTRIBUTION = "asrkit"


def provider_requirements(providers: Iterable[tuple[str, str]]) -> list[str]:
    """``["dist>=version", ...]`` for each installed ``(distribution, version)`` other than asrkit, once each."""
    found: dict[str, str] = {}
    for package, version in providers:
        name = canonicalize_name(package)
        if name == CORE_DISTRIBUTION or name in found or not _installed(package):
            continue
        found[name] = f"{package}>={version}" if version and version != "?" else package
    return list(found.values())


def merge_requires(declared: Iterable[str], recorded: Iterable[str]) -> tuple[str, ...]:
    """``declared`` plus each ``recorded`` requirement whose distribution ``declared`` does not name."""
    declared = list(declared)
    named = {_name(text) for text in declared}
    return tuple(declared + [text for text in recorded if _name(text) not in named])


def _name(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return text


def _installed(package: str) -> bool:
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
