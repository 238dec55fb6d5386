"""Intermediate CTC (``inter_ctc``): CTC on the final hidden features plus CTC on chosen encoder layers, weighted.

The loss of an utterance is ``(1 - weight) · CTC(final) + weight · mean over
layers of CTC(layer)`` (Lee & Watanabe, "Intermediate loss regularization for
CTC-based speech recognition", ICASSP 2021): the lower layers are pushed
toward the transcript too, which regularizes a deep encoder. Each chosen
layer has its own linear output layer (the encoder's layers may be wider than
its final hidden features, as rescnn_bigru's BiGRU outputs are); they are
used in training only. Decoding, evaluation and export read the final layer
alone, exactly as with ``ctc``, so an ``inter_ctc`` model costs nothing more
at inference.

The encoder must offer its layers' outputs
(:class:`asrkit.interfaces.IntermediateOutputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from asrkit.config import param
from asrkit.ctc import ctc_loss
from asrkit.errors import RecipeError
from asrkit.interfaces import Encoder, EncoderOutput, IntermediateOutputs, Tokenizer
from asrkit_plugins.objectives.ctc import CTC


@dataclass(frozen=True)
class InterCTCConfig:
    layers: tuple[int, ...] = param(
        (), help="encoder layers (from 1) that get an intermediate CTC loss; empty: the middle layer"
    )
    weight: float = param(0.3, help="share of the intermediate losses in the total, in (0, 1); for 0 use ctc")

    def __post_init__(self) -> None:
        # 0 would leave the layer heads without gradients, which DDP refuses; that model is ctc's.
        if not 0.0 < self.weight < 1.0:
            raise ValueError(f"weight must be in (0, 1) (for 0, use objective: {{name: ctc}}), got {self.weight}")
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must not repeat, got {list(self.layers)}")


class InterCTC(CTC):
    """CTC on the final hidden features plus weighted CTC on intermediate encoder layers."""

    name: ClassVar[str] = "inter_ctc"
    Config: ClassVar[type] = InterCTCConfig

    def __init__(self, config: InterCTCConfig, input_dim: int, tokenizer: Tokenizer, encoder: Encoder) -> None:
        super().__init__(CTC.Config(), input_dim=input_dim, tokenizer=tokenizer)
        self.config = config
        if not isinstance(encoder, IntermediateOutputs):
            raise RecipeError(
                f"inter_ctc needs an encoder that offers its layers' outputs "
                f"(asrkit.interfaces.IntermediateOutputs); '{type(encoder).name}' does not"
            )
        layers = config.layers or (max(1, encoder.num_layers // 2),)
        for layer in layers:
            if not 1 <= layer <= encoder.num_layers:
                raise RecipeError(f"layers: the encoder has layers 1 to {encoder.num_layers}, not {layer}")
        self.intermediate_layers = tuple(layers)
        self.layer_heads = nn.ModuleDict(
            {str(layer): nn.Linear(encoder.layer_dim(layer), tokenizer.num_classes) for layer in layers}
        )

    def loss(self, encoded: EncoderOutput, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        """``(B,)``: ``(1 - weight)`` × the final layer's CTC loss + ``weight`` × the mean of the chosen layers'."""
        final = super().loss(encoded, targets)
        missing = [layer for layer in self.intermediate_layers if layer not in encoded.intermediate]
        if missing:
            raise ValueError(f"inter_ctc: the encoder output lacks layers {missing}")
        layer_losses = [
            ctc_loss(
                self.layer_heads[str(layer)](encoded.intermediate[layer]), encoded.lengths, targets, blank=self.blank
            ).per_label
            for layer in self.intermediate_layers
        ]
        return (1.0 - self.config.weight) * final + self.config.weight * torch.stack(layer_losses).mean(0)
