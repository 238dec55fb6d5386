"""An export form of :class:`~asrkit_plugins.encoders.rescnn_bigru.ResCNNBiGRU`: the same outputs, without packing.

``pack_padded_sequence`` does not survive ``torch.jit.trace`` (the batch sizes
become constants) nor ``torch.export`` (they are data-dependent), so the
exporters get the encoder's padded form (:meth:`ResCNNBiGRU.forward_padded`,
the one ``train_rnn: padded`` trains with): each direction of every BiGRU is a
unidirectional GRU on the padded tensor, the backward one on each row reversed
within its length, so every valid output equals the packed run's. Frames past
a row's length get hidden features 0, as ``pad_packed_sequence`` gives.
"""

from __future__ import annotations

import torch
from torch import nn


class ExportableResCNNBiGRU(nn.Module):
    """``(B, T, D)`` features, ``(B,)`` frame counts → ``(B, T', H)`` hidden features, ``(B,)`` frame counts ``T'``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.forward_padded(features, lengths)
