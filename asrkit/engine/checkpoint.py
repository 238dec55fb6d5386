"""Checkpoints: written atomically, loaded with ``weights_only=True``, enough on their own to decode.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts:

- ``format``, ``asrkit_version``: what wrote it (format 1: asrkit 0.1, whose
  encoders ended in the output layer; format 2: the objective owns it, and
  format-1 weights are renamed on loading by the encoder's
  ``upgrade_state_dict``);
- ``recipe``: the resolved recipe (every default filled in);
- ``model``: the acoustic model's ``state_dict`` (features, encoder and
  objective; learned feature statistics are buffers, so they are in it);
- ``tokenizer``: the tokenizer's ``state_dict`` (a fitted vocabulary);
- ``training`` (``last.pt`` only): everything ``--resume`` needs, see
  :mod:`asrkit.engine.trainer`;
- ``step``, ``metrics`` (written by training): the optimizer step of the
  checkpoint, and the best epoch with its validation results.

Writing goes to a temporary file in the same folder, which is flushed and
fsynced, renamed over the target with ``os.replace`` and followed by an fsync of
the folder: a kill or a full disk leaves the previous checkpoint intact.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asrkit import __version__
from asrkit.build import build, build_model
from asrkit.errors import AsrkitError, CheckpointError
from asrkit.interfaces import Tokenizer
from asrkit.limits import check_expansion
from asrkit.model import AcousticModel
from asrkit.recipe import Recipe, parse_model_recipe
from asrkit.registry import Registry

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
"""Checkpoint formats this asrkit loads: 1 was written by asrkit 0.1."""


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """``torch.save(payload)`` to ``path`` so that ``path`` is always either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)):  # a full disk surfaces as either
            reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
            raise CheckpointError(f"cannot write checkpoint {path}: {reason}") from exc
        raise
    _fsync_dir(path.parent)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files of :func:`save_atomic` that a killed process left in ``folder``; return how many.

    Called when a run starts (before any save of its own), so the files found
    are leftovers: a kill during a write leaves one per kill, each as large as
    a checkpoint.
    """
    removed = 0
    for temporary in folder.glob(".*.pt.*.tmp") if folder.is_dir() else ():
        temporary.unlink(missing_ok=True)
        removed += 1
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def model_payload(recipe: dict[str, Any], model: nn.Module, tokenizer: Tokenizer) -> dict[str, Any]:
    """The self-contained part of every checkpoint: what inference needs."""
    return {
        "format": FORMAT_VERSION,
        "asrkit_version": __version__,
        "recipe": copy.deepcopy(recipe),
        "model": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "tokenizer": tokenizer.state_dict(),
    }


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU, refusing anything but plain data (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable asrkit checkpoint: {_load_failure(exc)}") from None
    if not isinstance(payload, dict) or "model" not in payload or "recipe" not in payload:
        raise CheckpointError(f"{path} is not an asrkit checkpoint (no model and recipe in it)")
    if payload.get("format") not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path} has checkpoint format {payload.get('format')!r}; this asrkit "
            f"({__version__}) reads formats {', '.join(map(str, READABLE_FORMATS))}"
        )
    check_expansion(payload["recipe"], f"{path}: the recipe in the checkpoint", CheckpointError)
    return payload


def model_state(payload: dict[str, Any], model: AcousticModel) -> dict[str, torch.Tensor]:
    """The checkpoint's model weights, renamed for today's model when an older format wrote them."""
    state = payload["model"]
    written = int(payload.get("format", FORMAT_VERSION))
    if written < FORMAT_VERSION:
        state = type(model.encoder).upgrade_state_dict(dict(state), written)
    return state


@dataclass
class LoadedModel:
    """A model restored from a checkpoint, with the recipe and tokenizer it was trained with."""

    recipe: Recipe
    tokenizer: Tokenizer
    model: AcousticModel
    checkpoint: dict[str, Any]


def load_model(path: str | Path, registry: Registry, device: torch.device | str = "cpu") -> LoadedModel:
    """Rebuild the acoustic model of a checkpoint, in eval mode on ``device``."""
    payload = load_checkpoint(path)
    try:
        recipe = parse_model_recipe(payload["recipe"], registry)
    except AsrkitError as exc:
        raise CheckpointError(f"{path}: the recipe in the checkpoint does not validate here: {exc}") from None
    tokenizer = build(registry, recipe.tokenizer)
    tokenizer.load_state_dict(payload.get("tokenizer", {}))
    model = build_model(registry, recipe, tokenizer)
    # Training-only augmenters are not rebuilt (their plugins may be absent here): drop their state.
    weights = {k: v for k, v in model_state(payload, model).items() if not k.split(".", 1)[0].endswith("_augmenters")}
    load_weights(model, weights, f"{path}: the weights do not fit the model of its recipe")
    return LoadedModel(recipe, tokenizer, model.to(device).eval(), payload)


def load_weights(model: nn.Module, weights: dict[str, Any], failure: str) -> None:
    """``model.load_state_dict(weights)``, or a :class:`CheckpointError` ``"<failure>: <first differences>"``.

    The differences (missing and unexpected keys, shapes) are listed before
    torch is asked, so the message names the keys instead of torch's
    multi-line report.
    """
    own = model.state_dict()
    differences = [
        f"{key} {tuple(weights[key].shape)} in the file, {tuple(own[key].shape)} in the model"
        for key in own
        if key in weights and hasattr(weights[key], "shape") and tuple(weights[key].shape) != tuple(own[key].shape)
    ]
    differences += [f"{key} missing from the file" for key in own if key not in weights]
    differences += [f"{key} not in the model" for key in weights if key not in own]
    if differences:
        more = f" and {len(differences) - 3} more" if len(differences) > 3 else ""
        raise CheckpointError(f"{failure}: {'; '.join(differences[:3])}{more}")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{failure}: {str(exc).strip().splitlines()[0]}") from None


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _load_failure(exc: BaseException) -> str:
    """Why ``torch.load`` failed, in one line, without torch's advice to load untrusted files unsafely."""
    found = _UNSUPPORTED_GLOBAL.search(str(exc))
    if found:
        return (
            f"it holds a Python object ({found.group(1)}) that asrkit never writes and will not load; "
            "it was written by something else, or tampered with"
        )
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "weights_only" not in line]
    detail = lines[0] if lines else type(exc).__name__
    return f"{detail} (a truncated or damaged file, or not written by asrkit)"
