"""Speed perturbation (``speed_perturb``): play each utterance faster or slower, pitch included.

Each utterance draws a factor from ``factors``; a factor ``f`` resamples its
waveform to ``length / f`` samples (``f = 1.1`` is 10% faster and shorter), as
Kaldi's speed perturbation does, with ``torchaudio.functional.resample``. Rows
that drew the same factor are resampled together, from their valid samples
only (the padding is zeroed first, and the resampler pads with zeros, so a row
gives the same samples alone and in a batch). The batch grows when a row gets
longer; rows left at factor 1 are returned untouched, padding included, and
perturbed rows are zero past their new length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import torch
import torch.nn.functional as F
import torchaudio

from asrkit.config import param
from asrkit.interfaces import Augmenter
from asrkit.padding import valid_mask


@dataclass(frozen=True)
class SpeedPerturbConfig:
    factors: tuple[float, ...] = param((0.9, 1.0, 1.1), help="speed factors, one drawn uniformly per utterance")

    def __post_init__(self) -> None:
        if not self.factors or any(not 0.5 <= f <= 2.0 for f in self.factors):
            raise ValueError(f"factors must be a non-empty list of speeds between 0.5 and 2, got {list(self.factors)}")


class SpeedPerturb(Augmenter):
    """Speed perturbation: resample each utterance by a random factor (e.g. 0.9, 1.0, 1.1)."""

    name: ClassVar[str] = "speed_perturb"
    Config: ClassVar[type] = SpeedPerturbConfig
    stage: ClassVar[str] = "waveform"

    def __init__(self, config: SpeedPerturbConfig, sample_rate: int = 16000) -> None:
        super().__init__()
        self.config = config
        # f = p / q in small integers: resampling from rate p to rate q shortens by f.
        self.ratios = [Fraction(f).limit_denominator(100) for f in config.factors]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, S')`` waveforms, ``(B,)`` new sample counts."""
        if not self.training:
            return x, lengths
        choice = torch.randint(len(self.ratios), (x.shape[0],)).tolist()
        groups: dict[Fraction, list[int]] = {}
        for row, k in enumerate(choice):
            if self.ratios[k] != 1:
                groups.setdefault(self.ratios[k], []).append(row)
        if not groups:
            return x, lengths
        counts = lengths.tolist()
        pieces, new_counts = {}, list(counts)
        for ratio, rows in groups.items():
            longest = max(counts[r] for r in rows)
            index = torch.tensor(rows, device=x.device)
            waves = x[index, :longest].masked_fill(~valid_mask(lengths[index], longest), 0.0)
            resampled = torchaudio.functional.resample(waves, ratio.numerator, ratio.denominator)
            for j, row in enumerate(rows):
                new_counts[row] = math.ceil(counts[row] * ratio.denominator / ratio.numerator)
                pieces[row] = resampled[j, : new_counts[row]]
        width = max(x.shape[1], *new_counts)
        out = F.pad(x, (0, width - x.shape[1]))
        for row, piece in pieces.items():
            out[row] = 0.0
            out[row, : piece.shape[0]] = piece
        return out, torch.tensor(new_counts, dtype=lengths.dtype, device=lengths.device)
