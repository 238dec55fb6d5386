"""Mixed precision: autocast on CUDA in bf16 or fp16 (with a gradient scaler), fp32 elsewhere."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch


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
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def precision_for(name: str, device: torch.device) -> Precision:
    """The precision the recipe asks for, on ``device`` (the CPU always trains in fp32)."""
    if device.type != "cuda" or name == "fp32":
        return Precision(device.type)
    if name == "bf16":
        return Precision(device.type, torch.bfloat16)
    return Precision(device.type, torch.float16, torch.amp.GradScaler("cuda"))
