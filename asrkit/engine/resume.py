"""Can this recipe resume that checkpoint? Answered before anything in the run directory is touched.

``--resume`` restores weights, optimizer state and the step plan. A recipe
that changes what the weights are (the features, augmenters, encoder,
tokenizer or objective, or the sample rate the features are computed at)
cannot load them; a changed step plan would silently train a different
schedule. Both are refused in one line naming the keys, so a mistaken
override never overwrites the run's ``recipe.yaml`` or half-starts the run.
"""

from __future__ import annotations

from typing import Any

from asrkit.errors import CheckpointError
from asrkit.limits import quote, short_repr

__all__ = ["MODEL_KEYS", "PLAN_KEYS", "changed_keys", "check_resumable"]

MODEL_KEYS = ("data.sample_rate", "features", "augmenters", "encoder", "tokenizer", "objective", "objectives")
"""Recipe keys that define the model's weights; a section absent from both recipes is equal."""

PLAN_KEYS = ("schedule", "batch", "accumulate_grad", "seed")
"""The ``train`` settings that fix the step plan; --resume cannot change them."""

SHOWN = 4
"""Differing keys named in the message; the rest are counted."""


def check_resumable(saved: dict[str, Any], requested: dict[str, Any], checkpoint: str) -> None:
    """Refuse to resume ``checkpoint`` (whose resolved recipe is ``saved``) with the resolved recipe ``requested``.

    Raises:
        CheckpointError: the model or the step plan differs; the message names
            the first differing keys with both values.
    """
    model = [change for key in MODEL_KEYS for change in changed_keys(_at(saved, key), _at(requested, key), key)]
    if model:
        raise CheckpointError(
            f"--resume: the recipe's model differs from {checkpoint}'s in {_listed(model)}; "
            "resume with the run's recipe.yaml, or start a new run (--out) to train the changed model"
        )
    _check_plan_unchanged(saved.get("train", {}), requested.get("train", {}))


def changed_keys(saved: Any, requested: Any, path: str) -> list[str]:
    """``path.key (old -> new)`` for every leaf that differs between two resolved recipe parts.

    A key the saved part lacks is not a difference (see the comment below).
    """
    if saved is _MISSING:
        # Resolved recipes fill every default, so only an older asrkit's checkpoint lacks a key
        # (a section or parameter added since); the weights check on load judges those.
        return []
    if isinstance(saved, dict) and isinstance(requested, dict):
        keys = list(saved) + [k for k in requested if k not in saved]
        return [
            change
            for key in keys
            for change in changed_keys(saved.get(key, _MISSING), requested.get(key, _MISSING), f"{path}.{quote(key)}")
        ]
    if isinstance(saved, list) and isinstance(requested, list) and len(saved) == len(requested):
        return [
            change
            for i, (old, new) in enumerate(zip(saved, requested, strict=True))
            for change in changed_keys(old, new, f"{path}[{i}]")
        ]
    if saved == requested:
        return []
    return [f"{path} ({_value(saved)} -> {_value(requested)})"]


def _check_plan_unchanged(saved: dict[str, Any], requested: dict[str, Any]) -> None:
    """A resumed run must follow the interrupted run's step plan.

    More epochs are fine with a constant learning rate; the other schedules are
    sized from the total number of steps, so their epochs are fixed too.
    """
    constant = requested.get("schedule", {}).get("name") == "constant"
    for key in PLAN_KEYS if constant else ("epochs", *PLAN_KEYS):
        if saved.get(key) != requested.get(key):
            raise CheckpointError(
                f"--resume needs the interrupted run's train.{key} ({_value(saved.get(key, _MISSING))}, "
                f"not {_value(requested.get(key, _MISSING))}): the learning-rate schedule and batch order were "
                "planned from it; to train longer, start a new run instead"
            )


_MISSING = object()


def _at(recipe: dict[str, Any], dotted: str) -> Any:
    node: Any = recipe
    for part in dotted.split("."):
        node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
    return node


def _value(value: Any) -> str:
    return "absent" if value is _MISSING else short_repr(value)


def _listed(changes: list[str]) -> str:
    more = len(changes) - SHOWN
    return ", ".join(changes[:SHOWN]) + (f" and {more} more" if more > 0 else "")
