"""Bounds on what untrusted recipe data may cost: how far it expands, how much of it an error shows.

YAML anchors and aliases let a few hundred bytes describe a structure of
billions of values (the "billion laughs" pattern): each alias is a reference,
cheap to hold, but anything that walks the data as a tree (``repr`` in an
error message, copying it into a resolved recipe) pays for every expansion.
:func:`load_yaml` therefore measures the tree a document expands to before
building it, and refuses one beyond :data:`MAX_VALUES` values or
:data:`MAX_DEPTH` levels; :func:`check_expansion` does the same for data that
arrives already built (the recipe inside a checkpoint, whose pickle can share
objects just as aliases do). :func:`show` is how every error message quotes a
value: a short ``repr``, never the whole of it.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from asrkit.errors import AsrkitError, RecipeError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "check_expansion", "load_yaml", "quote", "short_repr", "show"]

MAX_VALUES = 100_000
"""Values (mapping keys, items and scalars) a recipe may expand to; real recipes have a few hundred."""

MAX_DEPTH = 64
"""Nesting levels a recipe may have; real recipes have four or five."""

SHOWN_CHARACTERS = 120
"""The most of a value an error message quotes."""

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxdict = _repr.maxlist = _repr.maxtuple = _repr.maxset = 6
_repr.maxstring = _repr.maxother = 80


def show(value: Any) -> str:
    """``repr(value)`` cut short for a one-line message, with its type: ``[1, 2, ...] (list)``.

    Cost is bounded whatever the value: reprlib stops at a few levels and
    items, so a structure of shared references is never walked in full.
    """
    return f"{short_repr(value)} ({type(value).__name__})"


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARACTERS`, at bounded cost (see :func:`show`)."""
    text = _repr.repr(value).replace("\n", "\\n")
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 3] + "..."


def quote(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` for a one-line message: control characters escaped, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _TooLarge(Exception):
    """The data expands beyond a limit; the message says which."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops at :data:`MAX_DEPTH` levels while reading, before the cost grows.

    PyYAML's scanner does work per open flow collection for every token (5,000
    nested ``[`` take seconds) and its composer recurses per level, so depth is
    refused as soon as it is seen rather than after parsing.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooLarge(f"it is nested more than {MAX_DEPTH} levels deep")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooLarge(f"it is nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load(text)``, refusing documents that expand beyond the limits.

    Raises:
        RecipeError: the document expands to more than :data:`MAX_VALUES`
            values or nests deeper than :data:`MAX_DEPTH` (prefixed with
            ``where``); YAML syntax errors propagate as ``yaml.YAMLError``.
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, _node_children, where)
        return loader.construct_document(node)
    except _TooLarge as exc:
        raise RecipeError(f"{where}: {exc}") from None
    finally:
        loader.dispose()


def check_expansion(data: Any, where: str, error: type[AsrkitError] = RecipeError) -> None:
    """Refuse already-built data that expands beyond the limits (shared or cyclic references included)."""
    _measure(data, _data_children, where, error)


def _measure(
    root: Any, children: Callable[[Any], Iterable[Any] | None], where: str, error: type[AsrkitError] = RecipeError
) -> None:
    try:
        _expanded_size(root, children, {}, 0)
    except _TooLarge as exc:
        raise error(f"{where}: {exc}") from None


def _expanded_size(
    node: Any, children: Callable[[Any], Iterable[Any] | None], sizes: dict[int, int], depth: int
) -> int:
    """Values in ``node`` counted as a tree: a shared part counts once per place it appears.

    Each distinct container is walked once (``sizes`` remembers it), so the
    cost is linear in the document, not in its expansion.
    """
    items = children(node)
    if items is None:
        return 1
    key = id(node)
    if key in sizes:
        if sizes[key] < 0:
            raise _TooLarge("it contains itself")
        return sizes[key]
    if depth >= MAX_DEPTH:
        raise _TooLarge(f"it is nested more than {MAX_DEPTH} levels deep")
    sizes[key] = -1
    total = 1
    for item in items:
        total += _expanded_size(item, children, sizes, depth + 1)
        if total > MAX_VALUES:
            raise _TooLarge(
                f"it expands to more than {MAX_VALUES:,} values (a YAML alias counts again at every use); "
                "write the values out instead"
            )
    sizes[key] = total
    return total


def _node_children(node: Any) -> Iterable[Any] | None:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return None


def _data_children(value: Any) -> Iterable[Any] | None:
    if isinstance(value, dict):
        return [part for pair in value.items() for part in pair]
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    return None
