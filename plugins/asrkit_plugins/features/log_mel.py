"""Log-mel filterbank features (``log_mel``), computed in batch on the training device.

Waveforms ``(B, S)`` with sample counts ``(B,)`` become log mel energies
``(B, T, D)`` with frame counts ``(B,)``, ``T = S // hop_length + 1`` (a centred
STFT). Each row is computed from its own valid samples only: samples past its
length are zeroed before the STFT, the STFT pads with zeros rather than
reflecting (so a row's last frames are the same alone and inside a batch), and
frames past its length are zero in the output.

Normalization is per mel bin: ``utterance`` uses the mean and variance of each
row's valid frames, ``global`` the mean and variance of the training audio,
learnt once by :meth:`LogMel.fit` and kept as buffers (so they travel in the
model's ``state_dict``), ``none`` leaves the log energies as they are.

The defaults keep the reference model's 128 mels at 16 kHz, 25 ms windows and
10 ms hops, but on a 512-point FFT with the Slaney mel scale: with a 400-point
FFT (40 Hz bins) and the HTK scale, whose low filters are ~14 Hz apart, four of
the 128 filters cover no FFT bin at all and always output the log floor.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torchaudio

from asrkit.config import param
from asrkit.errors import DataError, RecipeError
from asrkit.interfaces import FeatureExtractor
from asrkit.padding import valid_mask

VARIANCE_FLOOR = 1e-5
"""Added to variances before dividing, so constant bins (digital silence) stay finite."""


@dataclass(frozen=True)
class LogMelConfig:
    n_mels: int = param(128, help="number of mel filters: the feature size D")
    n_fft: int = param(512, help="FFT size in samples (the window is zero-padded to it)")
    win_length: int = param(400, help="Hann window length in samples (400 = 25 ms at 16 kHz)")
    hop_length: int = param(160, help="samples between frames (160 = 10 ms at 16 kHz)")
    f_min: float = param(0.0, help="lowest filter edge in Hz")
    f_max: float | None = param(None, help="highest filter edge in Hz; null for half the sample rate")
    mel_scale: Literal["slaney", "htk"] = param(
        "slaney", help="mel scale; 'slaney' is linear below 1 kHz, which keeps the low filters wide enough"
    )
    log_floor: float = param(1e-6, help="added to the mel energies before the log, so silence stays finite")
    normalize: Literal["utterance", "global", "none"] = param(
        "utterance",
        help="per-bin mean/variance normalization: over each utterance, over the training audio (fit once), or none",
    )

    def __post_init__(self) -> None:
        for name in ("n_mels", "n_fft", "win_length", "hop_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) must not exceed n_fft ({self.n_fft})")
        if self.log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {self.log_floor}")
        if self.f_min < 0 or (self.f_max is not None and self.f_max <= self.f_min):
            raise ValueError(f"need 0 <= f_min < f_max, got f_min={self.f_min}, f_max={self.f_max}")


class LogMel(FeatureExtractor):
    """Log-mel filterbank energies with per-utterance, global or no mean/variance normalization."""

    name: ClassVar[str] = "log_mel"
    Config: ClassVar[type] = LogMelConfig

    def __init__(self, config: LogMelConfig, sample_rate: int = 16000) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = sample_rate
        f_max = config.f_max if config.f_max is not None else sample_rate / 2
        if f_max > sample_rate / 2:
            raise RecipeError(f"f_max={config.f_max} is above half the sample rate ({sample_rate / 2:g} Hz)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchaudio warns of empty filters; we refuse them below
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate,
                n_fft=config.n_fft,
                win_length=config.win_length,
                hop_length=config.hop_length,
                f_min=config.f_min,
                f_max=f_max,
                n_mels=config.n_mels,
                power=2.0,
                center=True,
                pad_mode="constant",
                mel_scale=config.mel_scale,
            )
        empty = empty_filters(self.mel.mel_scale.fb)
        if empty:
            raise RecipeError(
                f"{len(empty)} of {config.n_mels} mel filters cover no FFT bin (filters {empty[:5]}); "
                "raise n_fft or f_min, lower n_mels, or use mel_scale 'slaney'"
            )
        if config.normalize == "global":
            # std 0 marks "not fitted yet"; fit() stores sqrt(var + floor) > 0.
            self.register_buffer("mean", torch.zeros(self.num_features))
            self.register_buffer("std", torch.zeros(self.num_features))
        self._fitted = False

    @property
    def num_features(self) -> int:
        return self.config.n_mels

    @property
    def frame_shift(self) -> float:
        return self.config.hop_length / self.sample_rate

    @property
    def needs_fit(self) -> bool:  # the interface's ClassVar, decided here by the config
        return self.config.normalize == "global"

    def output_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        return torch.div(num_samples, self.config.hop_length, rounding_mode="floor") + 1

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, T, D)`` float32 features, ``(B,)`` frame counts."""
        features, valid, frames = self._unnormalized(waveforms, lengths)
        if self.config.normalize == "utterance":
            mean, var = masked_mean_var(features, valid)
            features = (features - mean) * torch.rsqrt(var + VARIANCE_FLOOR)
        elif self.config.normalize == "global":
            self._check_fitted()
            features = (features - self.mean) / self.std
        return features.masked_fill(~valid, 0.0), frames

    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Learn the per-bin mean and variance of ``(waveforms (B, S), lengths (B,))`` batches (global only)."""
        if not self.needs_fit:
            return
        device = self.mean.device
        total = torch.zeros(self.num_features, dtype=torch.float64, device=device)
        total_sq = torch.zeros_like(total)
        count = torch.zeros((), dtype=torch.float64, device=device)
        with torch.no_grad():
            for waveforms, lengths in batches:
                features, valid, _ = self._unnormalized(waveforms.to(device), lengths.to(device))
                # float64 sums: hours of frames would lose the variance to rounding in float32.
                features = features.double().masked_fill(~valid, 0.0)
                total += features.sum(dim=(0, 1))
                total_sq += features.square().sum(dim=(0, 1))
                count += valid.sum()
        if count == 0:
            raise DataError("log_mel: cannot fit global normalization on no audio")
        mean = total / count
        var = (total_sq / count - mean.square()).clamp_min(0.0)
        self.mean.copy_(mean.float())
        self.std.copy_((var + VARIANCE_FLOOR).sqrt().float())
        self._fitted = True

    def _unnormalized(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features before normalization ``(B, T, D)``, the valid-frame mask ``(B, T, 1)`` and frame counts."""
        frames = self.output_lengths(lengths)
        if not (torch.jit.is_tracing() or torch.compiler.is_exporting()):
            # Drop columns that are padding in every row; an exported graph cannot (the width is data-dependent).
            waveforms = waveforms[:, : int(lengths.max())]
        # Features are float32 even under autocast: the log of half-precision energies is too coarse.
        with torch.autocast(device_type=waveforms.device.type, enabled=False):
            waves = waveforms.float()
            waves = waves.masked_fill(~valid_mask(lengths, waves.shape[1]), 0.0)
            energies = self.mel(waves).transpose(1, 2)  # (B, T, n_mels)
            features = self.project(torch.log(energies + self.config.log_floor))
        valid = valid_mask(frames, features.shape[1]).unsqueeze(-1)
        return features, valid, frames

    def export_module(self) -> FeatureExtractor:
        """The same features with a real-valued STFT, for ``asrkit export`` (see :mod:`asrkit.export`)."""
        from asrkit_plugins.features.log_mel_export import exportable_log_mel

        return exportable_log_mel(self)

    def project(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(B, T, n_mels)`` log mel energies → ``(B, T, D)`` features; a subclass may transform them."""
        return log_mel

    def _check_fitted(self) -> None:
        if not self._fitted:
            self._fitted = bool((self.std > 0).all())  # true once fit() ran or a fitted state_dict was loaded
            if not self._fitted:
                raise RuntimeError("log_mel with normalize='global' was used before fit() or loading a checkpoint")


def masked_mean_var(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance over time of each row's valid frames: ``(B, T, D)``, ``(B, T, 1)`` → ``(B, 1, D)`` each."""
    count = valid.sum(dim=1, keepdim=True).clamp_min(1)
    mean = x.masked_fill(~valid, 0.0).sum(dim=1, keepdim=True) / count
    var = (x - mean).masked_fill(~valid, 0.0).square().sum(dim=1, keepdim=True) / count
    return mean, var


def empty_filters(filterbank: torch.Tensor) -> list[int]:
    """Indices of the mel filters (columns of an ``(n_freqs, n_mels)`` filterbank) with no positive weight."""
    return (filterbank.amax(dim=0) <= 0).nonzero().flatten().tolist()
