"""The Conformer encoder (``conformer``): convolution-augmented Transformer (Gulati et al., 2020).

Convolutional subsampling (4× by default), then ``num_layers`` macaron blocks
(½ feed-forward, rotary self-attention, depthwise convolution module,
½ feed-forward, see :mod:`asrkit_plugins.encoders.conformer_layers`).
Padding-exact in training and eval mode: an utterance gives the same hidden
frames alone and padded inside a batch (the convolution module uses a per-frame
LayerNorm instead of BatchNorm for that, see the layers' docstring).

Why a plain Conformer rather than E-Branchformer or Zipformer: in ESPnet's
published LibriSpeech-100 results (attention decoder with CTC, beam 20) they
differ by a few tenths of a point (E-Branchformer 6.3 / 17.0 % WER on
test-clean / test-other, Conformer 6.5 / 17.3 %), while a plain Conformer is the architecture that every toolkit
(ESPnet, NeMo, WeNet, SpeechBrain, torchaudio) ships, that exports to ONNX and
quantizes with stock operators, and that small CPU batches train stably.
Zipformer's multi-rate stacks, BiasNorm and ScaledAdam optimizer are tied to
icefall's training recipe; E-Branchformer adds a second (cgMLP) branch per
block, about 1.5× the compute, which a CPU demo cannot afford. Both share the
subsampling and attention here and could be added as variants later.

It returns hidden features (``output_dim`` = ``d_model``); the objective
(``ctc``, ``inter_ctc``) owns the output layers. It can also return the output
of any block (:meth:`Conformer.forward_intermediate`), which intermediate CTC reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from asrkit.config import param
from asrkit.interfaces import Encoder
from asrkit.padding import valid_mask
from asrkit_plugins.encoders.conformer_layers import (
    ConformerBlock,
    ConvSubsampling,
    conv_subsampled_lengths,
    rotary_tables,
)

SUBSAMPLING_CONVS = {2: 1, 4: 2, 8: 3}
"""Subsampling factor → number of stride-2 convolutions."""


@dataclass(frozen=True)
class ConformerConfig:
    d_model: int = param(144, help="model width H (the output size of every block)")
    num_layers: int = param(16, help="number of Conformer blocks")
    num_heads: int = param(4, help="attention heads; d_model must be a multiple of it, with an even size per head")
    ff_mult: int = param(4, help="feed-forward hidden size as a multiple of d_model")
    conv_kernel: int = param(31, help="kernel size of the depthwise convolution over time (odd)")
    subsampling: int = param(4, help="time subsampling of the convolutional front end: 2, 4 or 8")
    subsampling_channels: int = param(144, help="channels of the subsampling convolutions")
    dropout: float = param(0.1, help="dropout after attention, feed-forward and convolution modules and on weights")

    def __post_init__(self) -> None:
        for name in ("d_model", "num_layers", "num_heads", "ff_mult", "subsampling_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads or (self.d_model // self.num_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) must be num_heads ({self.num_heads}) times an even head size")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel must be odd and positive, got {self.conv_kernel}")
        if self.subsampling not in SUBSAMPLING_CONVS:
            choices = ", ".join(map(str, SUBSAMPLING_CONVS))
            raise ValueError(f"subsampling must be one of {choices}, got {self.subsampling}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class Conformer(Encoder):
    """Conformer (macaron FFN, rotary self-attention, depthwise conv), 4x conv subsampling, padding-exact."""

    name: ClassVar[str] = "conformer"
    Config: ClassVar[type] = ConformerConfig

    def __init__(self, config: ConformerConfig, input_dim: int) -> None:
        super().__init__()
        self.config = config
        self.convs = SUBSAMPLING_CONVS[config.subsampling]
        dim = config.d_model
        self.frontend = ConvSubsampling(input_dim, config.subsampling_channels, dim, self.convs)
        self.frontend_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            [
                ConformerBlock(dim, config.num_heads, config.ff_mult, config.conv_kernel, config.dropout)
                for _ in range(config.num_layers)
            ]
        )

    @property
    def output_dim(self) -> int:
        return self.config.d_model

    @property
    def subsampling(self) -> int:
        return self.config.subsampling

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return conv_subsampled_lengths(input_lengths, self.convs)

    @property
    def num_layers(self) -> int:
        """Blocks whose outputs :meth:`forward_intermediate` can return (numbered from 1)."""
        return self.config.num_layers

    def layer_dim(self, layer: int) -> int:
        return self.config.d_model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)``, ``(B,)`` → ``(B, T', H)`` hidden frames (0 past each row's ``T'``), ``(B,)`` ``T'``."""
        hidden, out_lengths, _ = self.forward_intermediate(features, lengths, ())
        return hidden, out_lengths

    def forward_intermediate(
        self, features: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        """:meth:`forward`, plus ``{layer: (B, T', H)}`` after each block of ``layers`` (for intermediate CTC)."""
        unknown = [layer for layer in layers if not 1 <= layer <= self.num_layers]
        if unknown:
            raise ValueError(f"conformer has layers 1 to {self.num_layers}, not {unknown}")
        x, out_lengths = self.frontend(features, lengths)
        x = self.frontend_dropout(x)
        padding = ~valid_mask(out_lengths, x.shape[1])
        heads = self.config.num_heads
        rotary = rotary_tables(x.shape[1], self.config.d_model // heads, x.device)
        outputs = {}
        for number, block in enumerate(self.blocks, start=1):
            x = block(x, ~padding, rotary)
            if number in layers:
                outputs[number] = x.masked_fill(padding.unsqueeze(-1), 0.0)
        return x.masked_fill(padding.unsqueeze(-1), 0.0), out_lengths, outputs
