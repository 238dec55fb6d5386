"""The parts of the ``conformer`` encoder, each padding-exact: padding never reaches a valid frame.

Every part takes ``(B, T, H)`` frames with a ``(B, T)`` bool mask of the valid
ones. Per-frame parts (feed-forward, layer norms) cannot mix frames; the two
parts that do are kept off the padding:

- self-attention masks the padded keys, so a valid query reads valid frames only;
- the depthwise convolution reads zeros where the padding was, exactly the zeros
  its own ``padding`` adds at the end of a row that is alone in its batch.

The convolution module normalizes with a per-frame ``LayerNorm``, not the
original Conformer's ``BatchNorm1d``: batch statistics in training mix the
frames of every row (padding included) into every other row, so an utterance's
output would depend on its batch mates, and the running statistics used in eval
mode differ from the training ones, a train/eval mismatch that small CPU batches
make worse. WeNet (``cnn_module_norm: layer_norm``) and icefall's Zipformer make
the same choice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_subsampled_lengths(lengths: torch.Tensor, convs: int) -> torch.Tensor:
    """Frames after ``convs`` kernel-3, stride-2, padding-1 convolutions: ``(T - 1) // 2 + 1`` each."""
    for _ in range(convs):
        lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
    return lengths


class ConvSubsampling(nn.Module):
    """Stride-2 3×3 convolutions over (time, frequency) with ReLU, then a projection: ``(B, T, D)`` → ``(B, T', H)``.

    ``T' = T`` halved (rounding up) once per convolution. Before each
    convolution the frames past a row's length are zeroed, so the last valid
    output frame reads zeros there, as it does when the row is alone.
    """

    def __init__(self, input_dim: int, channels: int, output_dim: int, convs: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1 if i == 0 else channels, channels, 3, 2, 1) for i in range(convs)])
        freq = input_dim
        for _ in range(convs):
            freq = (freq - 1) // 2 + 1
        self.project = nn.Linear(channels * freq, output_dim)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = features.unsqueeze(1)  # (B, 1, T, D)
        for conv in self.convs:
            valid = torch.arange(x.shape[2], device=x.device) < lengths.unsqueeze(1)  # (B, T)
            x = F.relu(conv(x.masked_fill(~valid[:, None, :, None], 0.0)))
            lengths = conv_subsampled_lengths(lengths, 1)
        return self.project(x.transpose(1, 2).flatten(2)), lengths  # channel-major features per frame


def rotary_tables(frames: int, dim: int, device: torch.device, base: float = 10000.0) -> tuple[torch.Tensor, ...]:
    """``(T, dim)`` cosines and sines of the rotary position embedding (RoFormer), position ``t`` at row ``t``."""
    inverse = 1.0 / base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    angles = torch.arange(frames, device=device, dtype=torch.float32).unsqueeze(1) * inverse  # (T, dim/2)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``(B, heads, T, dim)`` queries or keys by their position (the rotate-half form)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class RotarySelfAttention(nn.Module):
    """Multi-head self-attention with rotary positions, padded keys masked: ``(B, T, H)`` → ``(B, T, H)``.

    Rotary embeddings make the attention score of two frames depend on their
    distance only (relative positions), cost no parameters, and export as plain
    multiplications. Plain ``nn.Linear`` projections (not ``nn.MultiheadAttention``)
    so that int8 dynamic quantization reaches all four.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, valid: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        batch, frames, dim = x.shape
        q, k, v = self.qkv(x).view(batch, frames, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        cos, sin = rotary
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=valid[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(attended.transpose(1, 2).reshape(batch, frames, dim))


class FeedForward(nn.Module):
    """LayerNorm, Linear to ``mult·H``, SiLU, dropout, Linear back, dropout (per frame)."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, mult * dim),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(mult * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """LayerNorm, pointwise to ``2H`` + GLU, depthwise conv over time, LayerNorm, SiLU, pointwise, dropout."""

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, 2 * dim)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.depthwise_norm = nn.LayerNorm(dim)  # per frame: see the module docstring
        self.pointwise_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = F.glu(self.pointwise_in(self.norm(x)), dim=-1)
        x = x.masked_fill(~valid.unsqueeze(-1), 0.0)  # the convolution reads zeros, never padding
        x = self.depthwise(x.transpose(1, 2)).transpose(1, 2)
        return self.dropout(self.pointwise_out(F.silu(self.depthwise_norm(x))))


class ConformerBlock(nn.Module):
    """Macaron Conformer block: ½ FFN, self-attention, convolution, ½ FFN, LayerNorm, each residual."""

    def __init__(self, dim: int, heads: int, ff_mult: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.ff_first = FeedForward(dim, ff_mult, dropout)
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = RotarySelfAttention(dim, heads, dropout)
        self.attention_dropout = nn.Dropout(dropout)
        self.conv = ConvModule(dim, kernel_size, dropout)
        self.ff_last = FeedForward(dim, ff_mult, dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``(B, T, H)`` frames, ``(B, T)`` valid mask, rotary tables → ``(B, T, H)``."""
        x = x + 0.5 * self.ff_first(x)
        x = x + self.attention_dropout(self.attention(self.attention_norm(x), valid, rotary))
        x = x + self.conv(x, valid)
        x = x + 0.5 * self.ff_last(x)
        return self.norm(x)
