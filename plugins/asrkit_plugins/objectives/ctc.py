"""The CTC objective (``ctc``): one linear layer over the hidden features, CTC loss, blank from the tokenizer.

The layer maps each ``H``-dimensional hidden frame to ``V`` logits; the loss
and the log-softmax run in float32 (see :func:`asrkit.ctc.ctc_loss`). A
transcript fits its frames when ``T' ≥ L + R`` (:func:`asrkit.ctc.ctc_fits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from asrkit.ctc import ctc_fits, ctc_log_probs, ctc_loss
from asrkit.interfaces import EncoderOutput, Objective, Tokenizer


@dataclass(frozen=True)
class CTCConfig:
    """CTC has no parameter to set: its size comes from the encoder and the tokenizer."""


class CTC(Objective):
    """Connectionist temporal classification over one linear output layer."""

    name: ClassVar[str] = "ctc"
    Config: ClassVar[type] = CTCConfig

    def __init__(self, config: CTCConfig, input_dim: int, tokenizer: Tokenizer) -> None:
        super().__init__()
        self.config = config
        self.blank = tokenizer.blank_id
        self.head = nn.Linear(input_dim, tokenizer.num_classes)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T', H)``, ``(B,)`` → ``(B, T', V)`` float32 log-probabilities (``-log V`` past each length)."""
        return ctc_log_probs(self.head(hidden), lengths)

    def loss(self, encoded: EncoderOutput, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        """``(B,)`` CTC loss of each utterance divided by its target length."""
        return ctc_loss(self.head(encoded.hidden), encoded.lengths, targets, blank=self.blank).per_label

    def fits(self, output_lengths: torch.Tensor, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        return ctc_fits(output_lengths, targets)
