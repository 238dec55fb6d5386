"""The ResCNN-BiGRU encoder (``rescnn_bigru``): a DeepSpeech2-style acoustic model.

A stride-2 convolution over (time, frequency), residual CNN blocks, a linear
projection, bidirectional GRUs and the first layer of AssemblyAI's tutorial
classifier (linear, GELU, dropout: the hidden features, ``rnn_dim`` a frame);
the objective adds the output layer over them. Padding is kept out of every
valid frame:

- before each 3×3 convolution the frames past a row's length are zeroed, so a
  row's last valid frames read zeros there, exactly as when it is alone;
- the backward direction of each GRU starts at a row's last valid frame
  instead of reading the padding first, in one of three ways (``train_rnn``):

  - ``packed``: the GRUs run on packed sequences; the layer norms,
    activations, dropout and the output projection, all per frame, run on the
    packed frames only;
  - ``padded``: each direction runs as a unidirectional GRU on the padded
    tensor, the backward one on each row reversed *within its length*
    (frames ``n-1, …, 0`` of a row of length ``n``, then its padding), its
    outputs reversed back the same way. The forward direction reads a row's
    valid frames before its padding, so every valid output is the packed
    run's; the GRUs also run over the padding, which costs little when the
    batches are bucketed by duration.
  - ``fused``: the padded form through asrkit's own recurrence
    (:mod:`asrkit_plugins.encoders.fused_bigru`): both directions in one
    product a time step and a hand-written backward pass that forms the
    weight gradients once, not once per time step as PyTorch's CPU GRU does.
  - ``auto`` (the default): ``fused`` on the CPU, where interleaved runs
    measured it the fastest of the three (``docs/benchmarks.md``); ``packed``
    on CUDA, where cuDNN runs packed sequences natively in one call a layer,
    until ``bench/train_sweep.py`` on a GPU says otherwise.

  Evaluation runs fused where training does (without gradients it skips the
  backward pass's bookkeeping; measured 1.4–1.8× faster than packed on rows
  of equal length, as fast on spread lengths), and packed otherwise and on
  int8 models (quantized GRUs take packed sequences). Export uses the padded
  form, which tracing can capture.

The encoder offers its BiGRU layers' outputs to objectives that read them
(:class:`asrkit.interfaces.IntermediateOutputs`, used by ``inter_ctc``).
Checkpoints of asrkit 0.1, whose encoder ended in the whole classifier, are
renamed on loading (:meth:`ResCNNBiGRU.upgrade_state_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from asrkit.config import param
from asrkit.interfaces import Encoder
from asrkit.padding import valid_mask
from asrkit_plugins.encoders.fused_bigru import fused_bigru, reverse_within_lengths

TRAIN_RNN_MODES = ("auto", "packed", "padded", "fused")


@dataclass(frozen=True)
class ResCNNBiGRUConfig:
    n_cnn_layers: int = param(3, help="number of residual CNN blocks (two 3x3 convolutions each)")
    n_rnn_layers: int = param(5, help="number of bidirectional GRU layers")
    rnn_dim: int = param(512, help="GRU hidden size per direction, and the size of the projection before the GRUs")
    cnn_channels: int = param(32, help="channels of every convolution")
    dropout: float = param(0.1, help="dropout probability after each CNN, GRU and output projection activation")
    train_rnn: str = param(
        "auto",
        help="how the GRUs keep padding out of valid frames in training: 'packed' (packed sequences), 'padded' "
        "(each direction on the padded batch, the backward one reversed within each row's length), 'fused' "
        "(padded, through asrkit's own recurrence with a hand-written backward pass) or 'auto' (fused on the "
        "CPU, packed on CUDA: the faster one measured per device); all give the same valid outputs; "
        "evaluation runs fused where training does, packed otherwise",
    )

    def __post_init__(self) -> None:
        for name in ("n_rnn_layers", "rnn_dim", "cnn_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_cnn_layers < 0:
            raise ValueError(f"n_cnn_layers must not be negative, got {self.n_cnn_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.train_rnn not in TRAIN_RNN_MODES:
            raise ValueError(f"train_rnn must be one of {', '.join(TRAIN_RNN_MODES)}, got {self.train_rnn!r}")


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


def direction(gru: nn.GRU, suffix: str) -> nn.GRU:
    """A unidirectional single-layer GRU sharing the weights of one direction of ``gru`` (``""`` or ``"_reverse"``).

    Shared, not copied: training it trains ``gru``, and a saved TorchScript
    module holds each weight once.
    """
    single = nn.GRU(gru.input_size, gru.hidden_size, batch_first=True, device="meta")
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        setattr(single, name, getattr(gru, name + suffix))  # nn.GRU's __setattr__ also updates its flat weights
    return single


class BiGRULayer(nn.Module):
    """LayerNorm, GELU, bidirectional GRU, dropout: ``input_dim`` → ``2 * hidden`` features a frame."""

    def __init__(self, input_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(input_dim)
        self.activation = nn.GELU()
        self.gru = nn.GRU(input_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        # A tuple is not registered as submodules: the state dict keeps each weight once, under ``gru``.
        self.directions = (direction(self.gru, ""), direction(self.gru, "_reverse"))

    def forward(self, x: PackedSequence) -> PackedSequence:
        """Packed ``(N, input_dim)`` frames → packed ``(N, 2 * hidden)`` frames."""
        x = x._replace(data=self.activation(self.norm(x.data)))
        out, _ = self.gru(x)
        return out._replace(data=self.dropout(out.data))

    def forward_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, input_dim)``, ``(B,)`` lengths → ``(B, T, 2 * hidden)``; exact up to each row's length only."""
        x = self.activation(self.norm(x))
        ahead, behind = self.directions
        forward_out, _ = ahead(x)
        backward_out, _ = behind(reverse_within_lengths(x, lengths))
        return self.dropout(torch.cat([forward_out, reverse_within_lengths(backward_out, lengths)], dim=-1))

    def forward_fused(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_padded` through :func:`fused_bigru`: same contract, same valid outputs."""
        return self.dropout(fused_bigru(self.gru, self.activation(self.norm(x)), lengths))


class ResCNNBiGRU(Encoder):
    """DeepSpeech2-style ResCNN + BiGRU encoder (AssemblyAI tutorial model), padding-exact."""

    name: ClassVar[str] = "rescnn_bigru"
    Config: ClassVar[type] = ResCNNBiGRUConfig

    def __init__(self, config: ResCNNBiGRUConfig, input_dim: int) -> None:
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
        self.output = nn.Sequential(nn.Linear(2 * rnn_dim, rnn_dim), nn.GELU(), nn.Dropout(config.dropout))

    @property
    def output_dim(self) -> int:
        return self.config.rnn_dim

    @property
    def subsampling(self) -> int:
        return 2

    @property
    def num_layers(self) -> int:
        """The BiGRU layers, numbered from 1, whose outputs :meth:`forward_intermediate` can return."""
        return self.config.n_rnn_layers

    def layer_dim(self, layer: int) -> int:
        return 2 * self.config.rnn_dim

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return conv_output_lengths(input_lengths)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)`` features, ``(B,)`` frame counts → ``(B, T', H)`` hidden features, ``(B,)`` frame counts ``T'``.

        Hidden features past a row's ``T'`` are 0.
        """
        hidden, out_lengths, _ = self.forward_intermediate(features, lengths, ())
        return hidden, out_lengths

    def forward_intermediate(
        self, features: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        """:meth:`forward`, plus ``{layer: (B, T', 2·rnn_dim)}``: the outputs of BiGRU ``layers`` (from 1)."""
        for layer in layers:
            if not 1 <= layer <= self.num_layers:
                raise ValueError(f"rescnn_bigru has BiGRU layers 1 to {self.num_layers}, not {layer}")
        form = self.training_form(features.device) if self.training else self.inference_form(features.device)
        if form != "packed":
            # Frames past the longest row would only be computed, then masked; T' is then the longest row's, as
            # packed gives. (Not in _run_padded: the exported graph must not fix the length as a constant.)
            features = features[:, : int(lengths.max())] if lengths.numel() else features
            return self._run_padded(features, lengths, layers, fused=form == "fused")
        x = self.cnn(features, lengths)
        out_lengths = self.output_lengths(lengths)
        # pack_padded_sequence wants the lengths on the CPU.
        packed = pack_padded_sequence(self.project(x), out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        taken: dict[int, torch.Tensor] = {}
        for number, rnn in enumerate(self.rnns, start=1):
            packed = rnn(packed)
            if number in layers:
                taken[number] = pad_packed_sequence(packed, batch_first=True)[0]
        packed = packed._replace(data=self.output(packed.data))
        hidden, _ = pad_packed_sequence(packed, batch_first=True)
        return hidden, out_lengths, taken

    def training_form(self, device: torch.device) -> str:
        """How training on ``device`` runs the GRUs: ``train_rnn`` with ``auto`` resolved."""
        if self.config.train_rnn == "auto":
            return "packed" if device.type == "cuda" else "fused"
        return self.config.train_rnn

    def inference_form(self, device: torch.device) -> str:
        """How evaluation on ``device`` runs the GRUs: ``fused`` where training would and the GRUs are float
        ``nn.GRU`` modules (int8 ones, from ``--quantize``, take packed sequences), else ``packed``."""
        float_grus = all(type(layer.gru) is nn.GRU for layer in self.rnns)
        return "fused" if float_grus and self.training_form(device) == "fused" else "packed"

    def forward_padded(
        self, features: torch.Tensor, lengths: torch.Tensor, fused: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` with the GRUs on the padded tensor, through :func:`fused_bigru` if ``fused`` (see the
        module docstring): same contract. Export calls it unfused, the form tracing captures."""
        hidden, out_lengths, _ = self._run_padded(features, lengths, (), fused=fused)
        return hidden, out_lengths

    def _run_padded(
        self, features: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int], fused: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        x = self.project(self.cnn(features, lengths))
        out_lengths = self.output_lengths(lengths)
        padding = ~valid_mask(out_lengths, x.shape[1]).unsqueeze(-1)
        taken: dict[int, torch.Tensor] = {}
        for number, rnn in enumerate(self.rnns, start=1):
            x = rnn.forward_fused(x, out_lengths) if fused else rnn.forward_padded(x, out_lengths)
            if number in layers:
                taken[number] = x.masked_fill(padding, 0.0)
        return self.output(x).masked_fill(padding, 0.0), out_lengths, taken

    @classmethod
    def upgrade_state_dict(cls, state: dict[str, torch.Tensor], checkpoint_format: int) -> dict[str, torch.Tensor]:
        """asrkit 0.1 (format 1): the encoder ended in ``classifier`` (linear, GELU, dropout, linear to ``V``).

        Its first linear layer is today's ``output`` projection; its last is
        the output layer that the ``ctc`` objective now owns (``objective.head``),
        the only objective 0.1 had.
        """
        if checkpoint_format >= 2:
            return state
        renamed = {}
        for key, value in state.items():
            if key.startswith("encoder.classifier.0."):
                key = "encoder.output.0." + key.removeprefix("encoder.classifier.0.")
            elif key.startswith("encoder.classifier.3."):
                key = "objective.head." + key.removeprefix("encoder.classifier.3.")
            renamed[key] = value
        return renamed

    def export_module(self) -> nn.Module:
        """The same computation without packed sequences, for ``asrkit export`` (see :mod:`asrkit.export`)."""
        from asrkit_plugins.encoders.rescnn_bigru_export import ExportableResCNNBiGRU

        return ExportableResCNNBiGRU(self)

    def cnn(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` features → ``(B, T', C·⌈D/2⌉)`` frames, channel-major, for the projection."""
        x = features.masked_fill(~valid_mask(lengths, features.shape[1]).unsqueeze(-1), 0.0).unsqueeze(1)
        x = self.stem(x)  # (B, 1, T, D) → (B, C, T', F)
        valid = valid_mask(self.output_lengths(lengths), x.shape[2])[:, None, :, None].to(x.dtype)
        for block in self.blocks:
            x = block(x, valid)
        return x.transpose(1, 2).flatten(2)
