"""Additive noise (``add_noise``): mix a random noise clip into each utterance at a random SNR.

Each utterance, with probability ``probability``, gets a random stretch of a
random clip of the noise source (a MUSAN-layout folder or a manifest, see
:mod:`asrkit_plugins.augmenters.audio_bank`), repeated when the clip is
shorter than the utterance, scaled so that the ratio of the utterance's power
to the noise's power, both over the utterance's valid samples, is an SNR drawn
uniformly in ``[min_snr_db, max_snr_db]``. The mixing runs on the batch's
device; the noise is added to valid samples only, so padding is untouched, and
lengths do not change. The draws come from torch's global generator, which a
run seeds and ``--resume`` restores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from asrkit.config import param
from asrkit.interfaces import Augmenter
from asrkit.padding import valid_mask
from asrkit_plugins.augmenters.audio_bank import POWER_FLOOR, load_clips


@dataclass(frozen=True)
class AddNoiseConfig:
    source: str = param(help="noise: a folder searched recursively for audio (e.g. musan/noise) or a JSONL manifest")
    min_snr_db: float = param(5.0, help="lowest signal-to-noise ratio drawn, in dB")
    max_snr_db: float = param(20.0, help="highest signal-to-noise ratio drawn, in dB")
    probability: float = param(0.5, help="chance that an utterance gets noise")
    max_seconds_loaded: float = param(3600.0, help="seconds of noise held in memory (random files of the source)")
    seed: int = param(0, help="seed of which files are loaded when the source holds more than max_seconds_loaded")

    def __post_init__(self) -> None:
        if self.min_snr_db > self.max_snr_db:
            raise ValueError(f"min_snr_db ({self.min_snr_db}) must not exceed max_snr_db ({self.max_snr_db})")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")
        if self.max_seconds_loaded <= 0:
            raise ValueError(f"max_seconds_loaded must be positive, got {self.max_seconds_loaded}")


class AddNoise(Augmenter):
    """Additive noise from a noise corpus (MUSAN folder or manifest) at a random SNR, valid samples only."""

    name: ClassVar[str] = "add_noise"
    Config: ClassVar[type] = AddNoiseConfig
    stage: ClassVar[str] = "waveform"

    def __init__(self, config: AddNoiseConfig, sample_rate: int = 16000) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = sample_rate
        self.clips: list[torch.Tensor] | None = None  # read on the first training batch (see audio_bank)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → the same with noise in training mode."""
        if not self.training:
            return x, lengths
        c = self.config
        if self.clips is None:
            self.clips = load_clips(c.source, self.sample_rate, c.max_seconds_loaded, c.seed)
        batch, width = x.shape
        chosen = torch.rand(batch) < c.probability
        if not bool(chosen.any()):
            return x, lengths
        noise = torch.stack([self.noise_segment(width) for _ in range(batch)]).to(x.device, x.dtype)
        valid = valid_mask(lengths, width) & chosen.to(x.device).unsqueeze(1)
        counts = lengths.clamp_min(1).to(x.dtype)
        signal_power = (x * valid).pow(2).sum(1) / counts
        noise_power = (noise * valid).pow(2).sum(1) / counts
        snr_db = c.min_snr_db + (c.max_snr_db - c.min_snr_db) * torch.rand(batch).to(x.device, x.dtype)
        scale = torch.sqrt(signal_power / (noise_power.clamp_min(POWER_FLOOR) * 10 ** (snr_db / 10)))
        scale = scale.masked_fill(signal_power < POWER_FLOOR, 0.0)
        return x + (noise * scale.unsqueeze(1)).masked_fill(~valid, 0.0), lengths

    def noise_segment(self, width: int) -> torch.Tensor:
        """``(width,)`` samples of a random clip from a random start, the clip repeated as often as needed."""
        clip = self.clips[int(torch.randint(len(self.clips), ()))]
        start = int(torch.randint(clip.numel(), ()))
        repeats = (start + width) // clip.numel() + 1
        return clip.repeat(repeats)[start : start + width]
