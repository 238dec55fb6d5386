"""An export form of :class:`~asrkit_plugins.features.log_mel.LogMel` (and its subclasses): the STFT as a convolution.

The ONNX exporter cannot carry the complex STFT that torchaudio's
``MelSpectrogram`` computes. :class:`ConvMelSpectrogram` computes the same
power spectrogram with real arithmetic: a strided 1-D convolution whose
kernels are the windowed cosines and sines of the DFT, after the same centred
zero padding. Only the mel transform is swapped: normalization, the log floor,
``project`` (MFCC's DCT) and the padding masks stay those of the component.
"""

from __future__ import annotations

import copy
import math

import torch
import torchaudio
from torch import nn

from asrkit.errors import PluginError
from asrkit.interfaces import FeatureExtractor


class ConvMelSpectrogram(nn.Module):
    """``(B, S)`` waveforms → ``(B, n_mels, S // hop + 1)`` mel power energies, as ``mel`` computes them."""

    def __init__(self, mel: torchaudio.transforms.MelSpectrogram) -> None:
        super().__init__()
        spec = mel.spectrogram
        if not (spec.center and spec.pad_mode == "constant" and spec.power == 2.0 and spec.onesided):
            raise PluginError("only a centred, zero-padded, one-sided power-2 mel spectrogram can be exported")
        if spec.normalized or spec.pad:
            raise PluginError("a normalized or extra-padded spectrogram cannot be exported")
        self.n_fft, self.hop_length = spec.n_fft, spec.hop_length
        # torch.stft centres a window shorter than n_fft inside the n_fft frame.
        window = torch.zeros(spec.n_fft, dtype=torch.float64)
        left = (spec.n_fft - spec.win_length) // 2
        window[left : left + spec.win_length] = spec.window.double()
        bins = torch.arange(spec.n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)
        angle = 2 * math.pi * bins * torch.arange(spec.n_fft, dtype=torch.float64) / spec.n_fft
        kernels = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)]).unsqueeze(1)
        self.register_buffer("kernels", kernels.float())  # (2 · bins, 1, n_fft)
        self.register_buffer("filterbank", mel.mel_scale.fb.clone())  # (bins, n_mels)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        half = self.n_fft // 2
        padded = nn.functional.pad(waves.unsqueeze(1), (half, half))
        parts = nn.functional.conv1d(padded, self.kernels, stride=self.hop_length)  # (B, 2 · bins, T)
        real, imag = parts.chunk(2, dim=1)
        power = real.square() + imag.square()
        return torch.matmul(power.transpose(1, 2), self.filterbank).transpose(1, 2)


def exportable_log_mel(features: FeatureExtractor) -> FeatureExtractor:
    """A copy of ``features`` (a LogMel) whose ``mel`` is a :class:`ConvMelSpectrogram`."""
    clone = copy.deepcopy(features)
    clone.mel = ConvMelSpectrogram(features.mel)
    return clone.eval()
