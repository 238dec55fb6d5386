"""Mel-frequency cepstral coefficients (``mfcc``): the DCT of ``log_mel``'s log energies.

Everything but the final projection is :class:`asrkit_plugins.features.log_mel.LogMel`:
the same masking, float32 computation and normalization, applied to the
coefficients. torchaudio's ``MFCC`` transform is not used because its decibel
scaling clamps against the maximum of the whole batch, which would make one
row's features depend on the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchaudio

from asrkit.config import param
from asrkit_plugins.features.log_mel import LogMel, LogMelConfig


@dataclass(frozen=True)
class MfccConfig(LogMelConfig):
    n_mels: int = param(80, help="number of mel filters before the DCT")
    n_mfcc: int = param(40, help="number of cepstral coefficients kept: the feature size D")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be between 1 and n_mels ({self.n_mels}), got {self.n_mfcc}")


class Mfcc(LogMel):
    """MFCCs (orthonormal DCT of log mel energies) with per-utterance, global or no normalization."""

    name: ClassVar[str] = "mfcc"
    Config: ClassVar[type] = MfccConfig

    def __init__(self, config: MfccConfig, sample_rate: int = 16000) -> None:
        super().__init__(config, sample_rate=sample_rate)
        # Derived from the config, so not saved in checkpoints.
        dct = torchaudio.functional.create_dct(config.n_mfcc, config.n_mels, norm="ortho")
        self.register_buffer("dct", dct, persistent=False)

    @property
    def num_features(self) -> int:
        return self.config.n_mfcc

    def project(self, log_mel: torch.Tensor) -> torch.Tensor:
        return log_mel @ self.dct
