"""The acoustic model: features, augmenters and encoder composed on padded waveforms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from asrkit.interfaces import Augmenter, Encoder, FeatureExtractor


class AcousticModel(nn.Module):
    """Waveforms to CTC logits: ``features → augmenters → encoder``.

    Augmenters act only in training mode; waveform-stage ones run before the
    features, feature-stage ones after.
    """

    def __init__(self, features: FeatureExtractor, augmenters: Sequence[Augmenter], encoder: Encoder) -> None:
        super().__init__()
        self.features = features
        self.waveform_augmenters = nn.ModuleList([a for a in augmenters if a.stage == "waveform"])
        self.feature_augmenters = nn.ModuleList([a for a in augmenters if a.stage == "features"])
        self.encoder = encoder

    @property
    def frame_seconds(self) -> float:
        """Duration of one output frame, for timestamps."""
        return self.features.frame_shift * self.encoder.subsampling

    def output_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        """``(B,)`` sample counts → ``(B,)`` output frame counts (without augmentation)."""
        return self.encoder.output_lengths(self.features.output_lengths(num_samples))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, T', V)`` logits, ``(B,)`` frame counts."""
        for augment in self.waveform_augmenters:
            waveforms, lengths = augment(waveforms, lengths)
        features, frames = self.features(waveforms, lengths)
        for augment in self.feature_augmenters:
            features, frames = augment(features, frames)
        return self.encoder(features, frames)
