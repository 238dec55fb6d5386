"""Masks of the valid prefix of padded sequences, shared by the built-in components."""

from __future__ import annotations

import torch


def valid_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``(B,)`` lengths → ``(B, size)`` bool mask, True at positions before each row's length."""
    return torch.arange(size, device=lengths.device) < lengths.unsqueeze(1)
