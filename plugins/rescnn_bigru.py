"""The ResCNN-BiGRU encoder (``rescnn_bigru``): a DeepSpeech2-style acoustic model.

A stride-2 convolution over (time, frequency), residual CNN blocks, a linear
projection, bidirectional GRUs and a two-layer classifier, as in AssemblyAI's
tutorial model, with padding kept out of every valid frame:

- before each 3×3 convolution the frames past a row's length are zeroed, so a
  row's last valid frames read zeros there, exactly as when it is alone;
- the GRUs run on packed sequences, so the backward direction starts at each
  row's last valid frame instead of reading the padding first. The layer norms,
  activations, dropout and the classifier are per frame and run on the packed
  frames only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from asrkit.config import param
from asrkit.interfaces import Encoder
from asrkit_plugins.padding import valid_mask


@dataclass(frozen=True)
class ResCNNBiGRUConfig:
    n_cnn_layers: int = param(3, help="number of residual CNN blocks (two 3x3 convolutions each)")
    n_rnn_layers: int = param(5, help="number of bidirectional GRU layers")
    rnn_dim: int = param(512, help="GRU hidden size per direction, and the size of the projection before the GRUs")
    cnn_channels: int = param(32, help="channels of every convolution")
    dropout: float = param(0.1, help="dropout probability after each CNN, GRU and classifier activation")

    def __post_init__(self) -> None:
        for name in ("n_rnn_layers", "rnn_dim", "cnn_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_cnn_layers < 0:
            raise ValueError(f"n_cnn_layers must not be negative, got {self.n_cnn_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def conv_output_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Frames after a kernel-3, stride-2, padding-1 convolution: ``(T + 2 - 3) // 2 + 1``."""
    return torch.div(lengths - 1, 2, rounding_mode="floor") + 1


class ResidualBlock(nn.Module):
    """Twice (LayerNorm over frequency, GELU, dropout, 3×3 conv), plus the input; ``(B, C, T, F)`` → same."""

    def __init__(self, channels: int, freq: int, dropout: float) -> None:
        super().__init__()
        self.norms = nn.ModuleList([nn.LayerNorm(freq) for _ in range(2)])
        self.convs = nn.ModuleList([nn.Conv2d(channels, channels, 3, stride=1, padding=1) for _ in range(2)])
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``valid`` is the ``(B, 1, T, 1)`` mask of real frames; convolutions see zeros past it."""
        out = x
        for norm, conv in zip(self.norms, self.convs, strict=True):
            out = conv(self.dropout(self.activation(norm(out))) * valid)
        return out + x


class BiGRULayer(nn.Module):
    """LayerNorm, GELU, bidirectional GRU, dropout, on packed ``(N, input_dim)`` → ``(N, 2 * hidden)`` frames."""

    def __init__(self, input_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(input_dim)
        self.activation = nn.GELU()
        self.gru = nn.GRU(input_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: PackedSequence) -> PackedSequence:
        x = x._replace(data=self.activation(self.norm(x.data)))
        out, _ = self.gru(x)
        return out._replace(data=self.dropout(out.data))


class ResCNNBiGRU(Encoder):
    """DeepSpeech2-style ResCNN + BiGRU encoder (AssemblyAI tutorial model), padding-exact."""

    name: ClassVar[str] = "rescnn_bigru"
    Config: ClassVar[type] = ResCNNBiGRUConfig

    def __init__(self, config: ResCNNBiGRUConfig, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        channels, rnn_dim = config.cnn_channels, config.rnn_dim
        freq = (input_dim - 1) // 2 + 1  # the stem halves the frequency axis too
        self.stem = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([ResidualBlock(channels, freq, config.dropout) for _ in range(config.n_cnn_layers)])
        self.project = nn.Linear(channels * freq, rnn_dim)
        self.rnns = nn.ModuleList(
            [
                BiGRULayer(rnn_dim if i == 0 else 2 * rnn_dim, rnn_dim, config.dropout)
                for i in range(config.n_rnn_layers)
            ]
        )
        self.classifier = nn.Sequential(
            nn.Linear(2 * rnn_dim, rnn_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(rnn_dim, num_classes),
        )

    @property
    def subsampling(self) -> int:
        return 2

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(input_lengths)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)`` features, ``(B,)`` frame counts → ``(B, T', V)`` logits, ``(B,)`` frame counts ``T'``."""
        x = self.cnn(features, lengths)
        out_lengths = self.output_lengths(lengths)
        # pack_padded_sequence wants the lengths on the CPU.
        packed = pack_padded_sequence(self.project(x), out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        for rnn in self.rnns:
            packed = rnn(packed)
        packed = packed._replace(data=self.classifier(packed.data))
        logits, _ = pad_packed_sequence(packed, batch_first=True)
        return logits, out_lengths

    def export_module(self) -> nn.Module:
        """The same computation without packed sequences, for ``asrkit export`` (see :mod:`asrkit.export`)."""
        from asrkit_plugins.rescnn_bigru_export import ExportableResCNNBiGRU

        return ExportableResCNNBiGRU(self)

    def cnn(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` features → ``(B, T', C·⌈D/2⌉)`` frames, channel-major, for the projection."""
        x = features.masked_fill(~valid_mask(lengths, features.shape[1]).unsqueeze(-1), 0.0).unsqueeze(1)
        x = self.stem(x)  # (B, 1, T, D) → (B, C, T', F)
        valid = valid_mask(self.output_lengths(lengths), x.shape[2])[:, None, :, None].to(x.dtype)
        for block in self.blocks:
            x = block(x, valid)
        return x.transpose(1, 2).flatten(2)
