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
from asrkit.model import AcousticModel
from asrkit.recipe import Recipe, parse_recipe
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
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable asrkit checkpoint: {reason}") from None
    if not isinstance(payload, dict) or "model" not in payload or "recipe" not in payload:
        raise CheckpointError(f"{path} is not an asrkit checkpoint (no model and recipe in it)")
    if payload.get("format") not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path} has checkpoint format {payload.get('format')!r}; this asrkit "
            f"({__version__}) reads formats {', '.join(map(str, READABLE_FORMATS))}"
        )
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
        recipe = parse_recipe(copy.deepcopy(payload["recipe"]), registry)
    except AsrkitError as exc:
        raise CheckpointError(f"{path}: the recipe in the checkpoint does not validate here: {exc}") from None
    tokenizer = build(registry, recipe.tokenizer)
    tokenizer.load_state_dict(payload.get("tokenizer", {}))
    model = build_model(registry, recipe, tokenizer)
    try:
        model.load_state_dict(model_state(payload, model))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: the weights do not fit the model of its recipe: {first}") from None
    return LoadedModel(recipe, tokenizer, model.to(device).eval(), payload)
