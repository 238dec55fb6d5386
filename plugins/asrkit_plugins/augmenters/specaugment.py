"""SpecAugment (``specaugment``): random frequency and time masks on padded features.

Each utterance of a batch draws its own masks, on the device, as
``torchaudio.functional.mask_along_axis_iid`` does: a width uniform in
``[0, max_width]`` and a start uniform among the positions where the band fits.
Unlike torchaudio's, the bands are drawn inside each row's valid frames, so a
time mask never lands in padding, and the widest time mask can be tied to the
utterance's length (``time_mask_ratio``), so short utterances are not wiped
out. Masked values are set to 0, which is the mean of normalized features;
padded frames are never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from asrkit.config import param
from asrkit.interfaces import Augmenter
from asrkit.padding import valid_mask


@dataclass(frozen=True)
class SpecAugmentConfig:
    freq_masks: int = param(1, help="number of frequency masks per utterance")
    freq_mask_width: int = param(15, help="widest frequency mask, in feature bins")
    time_masks: int = param(1, help="number of time masks per utterance")
    time_mask_width: int = param(35, help="widest time mask, in frames")
    time_mask_ratio: float | None = param(
        0.2,
        help="widest time mask as a fraction of the utterance's frames (also capped by time_mask_width); null: no cap",
    )

    def __post_init__(self) -> None:
        for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.time_mask_ratio is not None and not 0.0 <= self.time_mask_ratio <= 1.0:
            raise ValueError(f"time_mask_ratio must be between 0 and 1, got {self.time_mask_ratio}")


class SpecAugment(Augmenter):
    """Frequency and time masking (SpecAugment), independent per utterance, never in padding."""

    name: ClassVar[str] = "specaugment"
    Config: ClassVar[type] = SpecAugmentConfig
    stage: ClassVar[str] = "features"

    def __init__(self, config: SpecAugmentConfig, sample_rate: int = 16000) -> None:
        super().__init__()
        self.config = config

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)`` features, ``(B,)`` frame counts → the same, masked in training mode."""
        if not self.training:
            return x, lengths
        batch, frames, bins = x.shape
        c = self.config
        bin_counts = torch.full((batch,), bins, device=x.device)
        freq = random_bands(bin_counts, torch.full_like(bin_counts, c.freq_mask_width), c.freq_masks, bins)
        widest = torch.full_like(lengths, c.time_mask_width)
        if c.time_mask_ratio is not None:
            widest = torch.minimum(widest, (lengths * c.time_mask_ratio).floor().long())
        time = random_bands(lengths, widest, c.time_masks, frames)
        mask = (freq.unsqueeze(1) | time.unsqueeze(2)) & valid_mask(lengths, frames).unsqueeze(2)
        return x.masked_fill(mask, 0.0), lengths


def random_bands(sizes: torch.Tensor, max_widths: torch.Tensor, count: int, size: int) -> torch.Tensor:
    """``count`` random bands inside each row's first ``sizes[i]`` positions → ``(B, size)`` bool mask.

    ``sizes`` and ``max_widths`` are ``(B,)``. A band's width is uniform in
    ``[0, max_widths[i]]`` (capped at ``sizes[i]``) and its start uniform in
    ``[0, sizes[i] - width]``, so it never reaches past ``sizes[i]``.
    """
    if count == 0:
        return torch.zeros(sizes.shape[0], size, dtype=torch.bool, device=sizes.device)
    positions = torch.arange(size, device=sizes.device)
    sizes = sizes.unsqueeze(1)
    max_widths = torch.minimum(max_widths.unsqueeze(1), sizes)
    draws = torch.rand(sizes.shape[0], count, 2, device=sizes.device)
    widths = (draws[..., 0] * (max_widths + 1)).floor().long().clamp_max(max_widths)  # (B, count)
    starts = (draws[..., 1] * (sizes - widths + 1)).floor().long().clamp_max(sizes - widths)
    inside = (positions >= starts.unsqueeze(2)) & (positions < (starts + widths).unsqueeze(2))  # (B, count, size)
    return inside.any(dim=1)
