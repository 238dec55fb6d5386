"""Fine-tuning: a new run starting from a trained checkpoint's weights, optionally with parts frozen at first.

``train.init_from: PATH`` copies the checkpoint's weights into the freshly
built model (never its optimizer, schedule or step: the run is new). The
model must have the same architecture. When the run's tokenizer has other
labels than the checkpoint's (another alphabet, a new SentencePiece model),
the objective's weights (the output layer, which maps hidden features to the
labels) are left at their fresh initialization, and the run says so; the
rest is copied.

``train.freeze: [encoder]`` with ``train.freeze_steps: N`` keeps the named
parts (``features``, ``encoder``, ``objective``, or a dotted submodule name
such as ``encoder.rnn``) unchanged for the first N optimizer steps, so that a
re-initialised output layer can settle before it sends large gradients
into the pretrained encoder. Frozen weights still get gradients (the model
is the same under DDP); the optimizer drops them before each step (no update,
no weight decay, no moment), and stops doing so after N steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from asrkit.engine.checkpoint import load_model
from asrkit.errors import CheckpointError, RecipeError
from asrkit.interfaces import Tokenizer
from asrkit.model import AcousticModel
from asrkit.registry import Registry


def initialize_from(path: str, model: AcousticModel, tokenizer: Tokenizer, registry: Registry) -> str:
    """Copy the weights of the checkpoint at ``path`` into ``model``; a one-line account of what was copied."""
    source = load_model(path, registry)
    same_labels = list(source.tokenizer.labels) == list(tokenizer.labels)
    theirs = source.model.state_dict()
    ours = model.state_dict()
    copied, fresh = {}, []
    for key, value in ours.items():
        if not same_labels and key.startswith("objective."):
            fresh.append(key)
            continue
        if key not in theirs or theirs[key].shape != value.shape:
            found = "missing" if key not in theirs else f"shaped {tuple(theirs[key].shape)}"
            raise CheckpointError(
                f"train.init_from: {path} has another architecture: {key} is {found} there, "
                f"{tuple(value.shape)} here (fine-tuning needs the same features and encoder)"
            )
        copied[key] = theirs[key]
    model.load_state_dict(copied, strict=False)
    if same_labels:
        return f"init_from {path}: all weights copied"
    classes = f"{len(source.tokenizer.labels)} classes there, {len(tokenizer.labels)} here"
    return (
        f"init_from {path}: the tokenizer's labels differ from the checkpoint's ({classes}), so the output layer "
        f"({len(fresh)} objective tensors) is re-initialised; {len(copied)} other tensors copied"
    )


def frozen_parameters(model: AcousticModel, names: Sequence[str]) -> list[torch.nn.Parameter]:
    """The parameters of the named submodules of ``model`` (``encoder``, ``encoder.rnn``, ...)."""
    modules = dict(model.named_modules())
    found: list[torch.nn.Parameter] = []
    for name in names:
        if name not in modules or not name:
            parts = sorted(n for n in modules if n and "." not in n)
            raise RecipeError(f"train.freeze: no part named '{name}' (parts: {', '.join(parts)}, or a dotted sub-part)")
        found += list(modules[name].parameters())
    return found


def freeze_for_steps(optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter], steps: int) -> Any:
    """Drop ``parameters``' gradients before each of the next ``steps`` optimizer steps; the hook's handle."""
    if steps <= 0 or not parameters:
        return None
    remaining = [steps]

    def drop_gradients(_optimizer: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
        if remaining[0] <= 0:
            handle.remove()
            return
        for parameter in parameters:
            parameter.grad = None
        remaining[0] -= 1

    handle = optimizer.register_step_pre_hook(drop_gradients)
    return handle
