"""Reverberation (``reverb``): convolve each utterance with a random room impulse response.

Each utterance, with probability ``probability``, is convolved
(``torchaudio.functional.fftconvolve``, on the batch's device, all rows at
once) with a random RIR of the source (a folder or manifest, see
:mod:`asrkit_plugins.augmenters.audio_bank`; ``asrkit data simulate-rirs``
makes a set). As in Kaldi's and ESPnet's reverberation, the output is aligned
on the RIR's direct path (its strongest tap), so the words stay where the
transcript's alignment expects them, the reverberant tail past the utterance's
end is cut (lengths do not change), and the result is rescaled to the
utterance's original power. Only the valid samples are read and written:
padding is zeroed before the convolution and left untouched after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchaudio

from asrkit.config import param
from asrkit.interfaces import Augmenter
from asrkit.padding import valid_mask
from asrkit_plugins.augmenters.audio_bank import POWER_FLOOR, load_clips


@dataclass(frozen=True)
class ReverbConfig:
    source: str = param(help="room impulse responses: a folder searched recursively for audio, or a JSONL manifest")
    probability: float = param(0.5, help="chance that an utterance is reverberated")
    max_rir_seconds: float = param(1.0, help="RIRs are cut to this many seconds after their direct path")
    max_seconds_loaded: float = param(600.0, help="seconds of RIRs held in memory (random files of the source)")
    seed: int = param(0, help="seed of which files are loaded when the source holds more than max_seconds_loaded")

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")
        for name in ("max_rir_seconds", "max_seconds_loaded"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class Reverb(Augmenter):
    """Reverberation by convolution with room impulse responses (a folder or manifest), level kept, no padding."""

    name: ClassVar[str] = "reverb"
    Config: ClassVar[type] = ReverbConfig
    stage: ClassVar[str] = "waveform"

    def __init__(self, config: ReverbConfig, sample_rate: int = 16000) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = sample_rate
        self.rirs: list[torch.Tensor] | None = None  # read on the first training batch (see audio_bank)

    def load(self) -> list[torch.Tensor]:
        """The RIRs, each starting at its direct path, cut to ``max_rir_seconds`` and scaled to unit energy."""
        c = self.config
        rirs = []
        for rir in load_clips(c.source, self.sample_rate, c.max_seconds_loaded, c.seed):
            direct = int(rir.abs().argmax())
            rir = rir[direct : direct + max(1, round(c.max_rir_seconds * self.sample_rate))]
            rirs.append(rir / rir.norm())
        return rirs

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → the same, reverberated in training mode."""
        if not self.training:
            return x, lengths
        if self.rirs is None:
            self.rirs = self.load()
        chosen = (torch.rand(x.shape[0]) < self.config.probability).nonzero().squeeze(1).tolist()
        if not chosen:
            return x, lengths
        rows = torch.tensor(chosen, device=x.device)
        picks = [self.rirs[int(torch.randint(len(self.rirs), ()))] for _ in chosen]
        taps = max(r.numel() for r in picks)
        rirs = torch.stack([torch.nn.functional.pad(r, (0, taps - r.numel())) for r in picks]).to(x.device, x.dtype)
        valid = valid_mask(lengths[rows], x.shape[1])
        dry = x[rows].masked_fill(~valid, 0.0)
        wet = torchaudio.functional.fftconvolve(dry, rirs)[:, : x.shape[1]]  # the tail past the width is cut
        wet = wet.masked_fill(~valid, 0.0)
        gain = (dry.pow(2).sum(1) / wet.pow(2).sum(1).clamp_min(POWER_FLOOR)).sqrt()
        out = x.clone()
        out[rows] = torch.where(valid, wet * gain.unsqueeze(1), x[rows])
        return out, lengths
