"""Typed config dataclasses: build them from recipe data, describe their fields.

A component's recipe parameters are the fields of its frozen ``Config``
dataclass. This module turns a plain mapping (from YAML) into such a dataclass,
checking every value against the field's annotation, and reports mistakes with
the key path and the accepted fields. It never evaluates or imports anything
named by the data.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from asrkit.errors import RecipeError
from asrkit.limits import quote, show

SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
"""``1e-3``: YAML 1.1 (PyYAML) reads it as a string, but it is plainly a float where one is expected."""


@dataclass(frozen=True)
class Range:
    """The numbers a parameter accepts: ``Range(0, low_open=True)`` is "> 0".

    Bounds are inclusive unless ``*_open``; NaN and the infinities are always
    outside, so ``lr: .nan`` fails at validation instead of in the first step.
    For a list parameter every item must be in range.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        low = None if self.low is None else f"{'>' if self.low_open else '>='} {_number(self.low)}"
        high = None if self.high is None else f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return " and ".join(part for part in (low, high) if part) or "finite"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


POSITIVE = Range(0, low_open=True)
"""> 0 (a rate, a size, a duration)."""
NON_NEGATIVE = Range(0)
"""≥ 0 (a count that may be zero, a decay)."""
AT_LEAST_ONE = Range(1)
"""≥ 1 (a count of steps, epochs or items)."""


def param(default: Any = MISSING, *, help: str = "", default_factory: Any = MISSING, valid: Range | None = None) -> Any:
    """Declare a config field with a help text shown by ``asrkit show``.

    Mutable defaults are refused by dataclasses, so list-like parameters use
    tuples (``param((1, 2), help=...)``). ``valid`` bounds a number (checked
    at recipe validation, with the key path in the error).
    """
    return field(default=default, default_factory=default_factory, metadata={"help": help, "valid": valid})


@dataclass(frozen=True)
class FieldInfo:
    """One config field as shown to users."""

    name: str
    type: str
    default: Any
    required: bool
    help: str


def is_config_class(cls: Any) -> bool:
    return isinstance(cls, type) and dataclasses.is_dataclass(cls)


def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of a dataclass (works with ``from __future__ import annotations``)."""
    return typing.get_type_hints(cls)


def type_name(tp: Any) -> str:
    """A short human name for an annotation: ``int``, ``float | None``, ``'a' | 'b'``."""
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = type_name(args[0]) if args else "any"
        return f"list[{inner}]"
    if is_config_class(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def describe(cls: type) -> list[FieldInfo]:
    """The fields of a config dataclass, in declaration order; a field's type includes its range (``float, > 0``)."""
    hints = field_types(cls)
    infos = []
    for f in dataclasses.fields(cls):
        if f.default is not MISSING:
            default, required = f.default, False
        elif f.default_factory is not MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        if is_config_class(type(default)):
            default = to_dict(default)
        infos.append(
            FieldInfo(
                name=f.name,
                type=type_name(hints[f.name]) + (f", {f.metadata['valid']}" if f.metadata.get("valid") else ""),
                default=_plain(default),
                required=required,
                help=f.metadata.get("help", ""),
            )
        )
    return infos


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML-safe data (tuples become lists)."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if is_config_class(type(value)):
        return to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def build_config(cls: type, data: dict[str, Any] | None, path: str) -> Any:
    """Build ``cls`` from ``data``, checking names and types.

    ``path`` is the key path of ``data`` in the recipe (``encoder``,
    ``data.train[0]``) and prefixes every error message.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping, got {_show(data)}")
    hints = field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        accepted = ", ".join(fields) or "(none)"
        raise RecipeError(
            f"{_join(path, quote(str(unknown[0])))}: unknown parameter; accepted: {accepted}"
            + did_you_mean(str(unknown[0]), fields)
        )
    values = {}
    for name, f in fields.items():
        key = _join(path, name)
        if name in data:
            values[name] = coerce(data[name], hints[name], key)
            _check_range(values[name], f.metadata.get("valid"), key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise RecipeError(f"{key}: required parameter is missing")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{path}: {exc}") from None


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it in the annotated form.

    Ints are accepted where floats are expected and lists become tuples; nothing
    else is converted, so ``epochs: "3"`` is an error, not a silent cast.
    """
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _type_error(path, tp, value)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return coerce(value, arg, path)
            except RecipeError:
                continue
        raise _type_error(path, tp, value)
    if origin is Literal:
        if value in get_args(tp):
            return value
        choices = ", ".join(repr(a) for a in get_args(tp))
        raise RecipeError(f"{path}: {_show(value)} is not one of {choices}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _type_error(path, tp, value)
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if origin is tuple and len(args) > 1 and Ellipsis not in get_args(tp):
            if len(value) != len(args):
                raise RecipeError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        inner = args[0] if args else Any
        return tuple(coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(path, tp, value)
        return dict(value)
    if is_config_class(tp):
        return build_config(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(path, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(path, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                raise RecipeError(f"{path}: {_show(value)} is too large for a float") from None
        if isinstance(value, str) and SCIENTIFIC.match(value):
            return float(value)
        raise _type_error(path, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(path, tp, value)
    raise RecipeError(f"{path}: unsupported parameter type {type_name(tp)}")


def _check_range(value: Any, valid: Range | None, path: str) -> None:
    if valid is None or value is None:
        return
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, (int, float)) and not isinstance(item, bool) and item not in valid:
            raise RecipeError(f"{path}: must be {valid}, got {_show(item)}")


def _type_error(path: str, tp: Any, value: Any) -> RecipeError:
    return RecipeError(f"{path}: expected {type_name(tp)}, got {_show(value)}")


def _show(value: Any) -> str:
    return show(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def did_you_mean(word: str, choices: Any) -> str:
    """'; did you mean 'x'?' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
