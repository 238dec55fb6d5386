"""Mixed precision: autocast on CUDA in bf16 or fp16 (with a gradient scaler), fp32 elsewhere.

A run on the CPU trains in fp32 whatever ``train.precision`` says, and says so
in one line (:func:`fallback_notice`): PyTorch has CPU autocast, but on the
AVX-512 development CPU (bf16 instructions, no AMX) it made training steps
slower, not faster (docs/training.md#precision has the figures).
:func:`mixed_precision` builds the CUDA setting on any device type: that is
how the tests run the fp16 gradient-scaler path without a GPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

DTYPE_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass
class Precision:
    """How the forward pass runs and whether gradients are scaled.

    ``dtype`` is ``None`` for fp32. ``scaler`` is set for fp16 only: bf16 has
    fp32's exponent range, so its gradients do not underflow.
    """

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    @property
    def name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def precision_for(name: str, device: torch.device) -> Precision:
    """The precision the recipe asks for, on ``device``: fp32 on anything but CUDA."""
    if device.type != "cuda":
        return Precision(device.type)
    return mixed_precision(name, device.type)


def mixed_precision(name: str, device_type: str) -> Precision:
    """``name`` (fp32, bf16 or fp16) exactly as asked on ``device_type``, with fp16's gradient scaler.

    :func:`precision_for` uses it on CUDA; the tests use it on the CPU, where
    torch supports both autocast dtypes and ``GradScaler("cpu")``.
    """
    if name == "fp32":
        return Precision(device_type)
    if name == "bf16":
        return Precision(device_type, torch.bfloat16)
    return Precision(device_type, torch.float16, torch.amp.GradScaler(device_type))


def fallback_notice(asked: str, precision: Precision) -> str | None:
    """One line when ``precision`` is not the ``train.precision`` the recipe ``asked`` for, else None."""
    if precision.name == asked:
        return None
    return (
        f"train.precision={asked} autocasts on CUDA only: training on {precision.device_type} in {precision.name} "
        "(CPU autocast made training slower; see docs/training.md#precision)"
    )
