"""The acoustic model: features, augmenters, encoder and objective composed on padded waveforms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from asrkit.errors import PluginError
from asrkit.interfaces import Augmenter, Encoder, EncoderOutput, FeatureExtractor, IntermediateOutputs, Objective


class AcousticModel(nn.Module):
    """Waveforms through ``features → augmenters → encoder → objective``.

    Augmenters act only in training mode; waveform-stage ones run before the
    features, feature-stage ones after. ``forward`` is the training loss (what
    DDP wraps); :meth:`log_probs` is what decoders read.
    """

    def __init__(
        self, features: FeatureExtractor, augmenters: Sequence[Augmenter], encoder: Encoder, objective: Objective
    ) -> None:
        super().__init__()
        self.features = features
        self.waveform_augmenters = nn.ModuleList([a for a in augmenters if a.stage == "waveform"])
        self.feature_augmenters = nn.ModuleList([a for a in augmenters if a.stage == "features"])
        self.encoder = encoder
        self.objective = objective

    @property
    def frame_seconds(self) -> float:
        """Duration of one output frame, for timestamps."""
        return self.features.frame_shift * self.encoder.subsampling

    def output_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        """``(B,)`` sample counts → ``(B,)`` output frame counts (without augmentation)."""
        return self.encoder.output_lengths(self.features.output_lengths(num_samples))

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor, intermediate: bool = True) -> EncoderOutput:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → the encoder's output.

        With ``intermediate``, it also holds the outputs of the encoder layers
        the objective's loss reads (:attr:`Objective.intermediate_layers`).
        """
        for augment in self.waveform_augmenters:
            waveforms, lengths = augment(waveforms, lengths)
        features, frames = self.features(waveforms, lengths)
        for augment in self.feature_augmenters:
            features, frames = augment(features, frames)
        layers = self.objective.intermediate_layers if intermediate else ()
        if layers and isinstance(self.encoder, IntermediateOutputs):
            hidden, out_lengths, taken = self.encoder.forward_intermediate(features, frames, layers)
        else:
            (hidden, out_lengths), taken = self.encoder(features, frames), {}
        check_encoder_output(self.encoder, hidden, out_lengths, frames)
        return EncoderOutput(hidden, out_lengths, taken)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        """``(B, S)`` waveforms, ``(B,)`` sample counts and label-id targets → ``(B,)`` loss of each utterance."""
        return self.objective.loss(self.encode(waveforms, lengths), targets)

    def log_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, T', V)`` float32 log-probabilities, ``(B,)`` frames."""
        encoded = self.encode(waveforms, lengths, intermediate=False)  # decoders read the final layer only
        return self.objective(encoded.hidden, encoded.lengths), encoded.lengths


def check_encoder_output(encoder: Encoder, hidden: torch.Tensor, lengths: torch.Tensor, frames: torch.Tensor) -> None:
    """Refuse, naming the encoder, lengths that claim more frames than ``hidden`` ``(B, T', H)`` has.

    Without this the mistake surfaces deep inside the loss (``ctc_loss``'s
    "input_lengths must be of size batch_size" or an out-of-range read) with no
    word of which component is at fault. The loss reads the lengths on the host
    anyway, so the one-number synchronisation costs nothing extra.
    """
    longest = int(lengths.max()) if lengths.numel() else 0
    if lengths.shape != (hidden.shape[0],) or longest > hidden.shape[1]:
        name = getattr(type(encoder), "name", type(encoder).__qualname__)
        raise PluginError(
            f"encoder '{name}' returned lengths {lengths.tolist()} for an output of {hidden.shape[1]} frames "
            f"(shape {tuple(hidden.shape)}, input frames {frames.tolist()}): its output_lengths() or forward() "
            "is wrong; asrkit.testing.check_component('encoders', ...) shows which"
        )
