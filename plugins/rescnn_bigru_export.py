"""An export form of :class:`~asrkit_plugins.rescnn_bigru.ResCNNBiGRU`: the same outputs, without packing.

``pack_padded_sequence`` does not survive ``torch.jit.trace`` (the batch sizes
become constants) nor ``torch.export`` (they are data-dependent), so the
exporters get this module instead. It runs each direction of every BiGRU as a
unidirectional GRU on the padded tensor:

- the forward direction reads a row's valid frames before its padding, so its
  valid outputs are those of the packed run;
- the backward direction runs on each row reversed *within its length*
  (frames ``n-1, …, 0`` of a row of length ``n``, then its padding), and its
  outputs are reversed back the same way: it starts at the row's last valid
  frame and never reads padding before a valid frame, as in the packed run.

Frames past a row's length get logits 0, as ``pad_packed_sequence`` gives.
The GRUs do run over the padding, so a batch of very unequal lengths costs
more than the packed run; the valid outputs are the same.
"""

from __future__ import annotations

import torch
from torch import nn

from asrkit_plugins.padding import valid_mask


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` → each row's first ``lengths[b]`` frames reversed, the padding left in place."""
    time = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    count = lengths.unsqueeze(1)
    index = torch.where(time < count, count - 1 - time, time)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


def direction(gru: nn.GRU, suffix: str) -> nn.GRU:
    """A unidirectional single-layer GRU sharing the weights of one direction of ``gru`` (``""`` or ``"_reverse"``).

    Shared, not copied: a saved TorchScript module then holds each weight once.
    """
    single = nn.GRU(gru.input_size, gru.hidden_size, batch_first=True, device="meta")
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        setattr(single, name, getattr(gru, name + suffix))  # nn.GRU's __setattr__ also updates its flat weights
    return single


class ExportableResCNNBiGRU(nn.Module):
    """``(B, T, D)`` features, ``(B,)`` frame counts → ``(B, T', V)`` logits, ``(B,)`` frame counts ``T'``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.forward_grus = nn.ModuleList([direction(layer.gru, "") for layer in encoder.rnns])
        self.backward_grus = nn.ModuleList([direction(layer.gru, "_reverse") for layer in encoder.rnns])

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self.encoder
        x = encoder.project(encoder.cnn(features, lengths))
        out_lengths = encoder.output_lengths(lengths)
        for layer, forward_gru, backward_gru in zip(encoder.rnns, self.forward_grus, self.backward_grus, strict=True):
            x = layer.activation(layer.norm(x))
            ahead, _ = forward_gru(x)
            behind, _ = backward_gru(reverse_within_lengths(x, out_lengths))
            x = layer.dropout(torch.cat([ahead, reverse_within_lengths(behind, out_lengths)], dim=-1))
        logits = encoder.classifier(x)
        return logits.masked_fill(~valid_mask(out_lengths, logits.shape[1]).unsqueeze(-1), 0.0), out_lengths
