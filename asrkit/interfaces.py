"""The interface of each component kind.

A component is a class with a unique ``name``, a frozen ``Config`` dataclass of
its recipe parameters, and the methods of its kind below. The builder
(:mod:`asrkit.build`) constructs it as ``cls(config, **dependencies)``, where the
dependencies are what other components decide (the feature dimension, the
vocabulary size, the tokenizer): they are never written in a recipe.

Shapes use ``B`` for batch, ``S`` for audio samples, ``T`` for feature frames,
``T'`` for encoder output frames, ``D`` for feature dimension, ``H`` for the
encoder's hidden dimension and ``V`` for the number of output classes (tokens
plus the CTC blank). Every sequence tensor travels with a
``lengths`` tensor of shape ``(B,)`` (int64) giving its valid prefix; values past
a row's length are padding and must never influence a valid position.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from asrkit.kinds import KIND_TABLE
from asrkit.kinds import KINDS as KINDS  # re-exported: the kind names, in the order data flows


@dataclass(frozen=True)
class Utterance:
    """One entry of a dataset's index: where the audio is and what was said.

    ``duration`` is in seconds and known without opening the audio, so batches
    can be planned from the index alone.
    """

    id: str
    audio_path: str
    text: str
    duration: float
    offset: float = 0.0


@dataclass(frozen=True)
class Word:
    """A decoded word with its start and end time in seconds.

    ``confidence`` is in [0, 1] when the decoder computes one: for the
    built-in decoders, the mean posterior of the word's tokens, each token's
    posterior taken at its most probable frame (see ``docs/decoding.md``).
    """

    word: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class Hypothesis:
    """A decoder's result for one utterance. ``words`` is set when timestamps were asked for.

    ``score`` is the decoder's log score of the hypothesis (higher is better).
    ``alternatives`` are the next best hypotheses, best first, when the
    decoder was asked for an n-best list.
    """

    text: str
    words: tuple[Word, ...] | None = None
    score: float | None = None
    alternatives: tuple[Hypothesis, ...] = ()


class Dataset(abc.ABC):
    """A source of utterances (kind ``datasets``).

    Constructed as ``cls(config)``. The index must be cheap to obtain on every
    run (cache what is expensive to scan); audio is read lazily, one utterance
    at a time, from DataLoader workers.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """A short name for reports and result files, e.g. ``dev-clean``."""

    @abc.abstractmethod
    def utterances(self) -> Sequence[Utterance]:
        """The index of the dataset: every utterance with its duration."""

    def prepare(self) -> None:
        """Fetch or unpack the data if needed (called once, on one process, before ``utterances``)."""

    def load_audio(self, utterance: Utterance, sample_rate: int) -> torch.Tensor:
        """Return the utterance's waveform, shape ``(S,)`` float32 mono at ``sample_rate``.

        Raises :class:`asrkit.errors.AudioError` when it cannot be read.
        """
        from asrkit.audio import load_audio

        duration = utterance.duration if utterance.offset else None
        return load_audio(utterance.audio_path, sample_rate, offset=utterance.offset, duration=duration)


class FeatureExtractor(nn.Module, abc.ABC):
    """Turns padded waveforms into padded features (kind ``features``).

    Constructed as ``cls(config, sample_rate=...)``. Runs in batch on the
    training device, so it is an ``nn.Module``; any statistics it learns
    (e.g. global mean and variance) are buffers, saved with the model.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    @property
    @abc.abstractmethod
    def num_features(self) -> int:
        """``D``, the size of one feature frame."""

    @property
    @abc.abstractmethod
    def frame_shift(self) -> float:
        """Seconds between two consecutive feature frames."""

    @abc.abstractmethod
    def output_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Number of frames for waveforms of ``num_samples`` samples, shape ``(B,)``."""

    @abc.abstractmethod
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms and ``(B,)`` sample counts → ``(B, T, D)`` features and ``(B,)`` frame counts."""

    needs_fit: bool = False
    """True when :meth:`fit` must see training data before the first step (may depend on the config)."""

    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Learn statistics from ``(waveforms (B, S), lengths (B,))`` batches of training audio."""


class Augmenter(nn.Module, abc.ABC):
    """A training-time transformation (kind ``augmenters``).

    Constructed as ``cls(config, sample_rate=...)``. Applied only when the module
    is in training mode (``self.training``); in eval mode it must return its
    input unchanged. ``stage`` says whether it works on waveforms ``(B, S)`` or on
    features ``(B, T, D)``. It must leave padding untouched (no mask, noise or
    signal moved past a row's length) and return the new lengths.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    stage: ClassVar[Literal["waveform", "features"]] = "features"

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` or ``(B, T, D)`` padded input and ``(B,)`` lengths → the same, augmented."""


class Encoder(nn.Module, abc.ABC):
    """The acoustic model: features to hidden features (kind ``encoders``).

    Constructed as ``cls(config, input_dim=D)``. It returns hidden features of
    size ``output_dim`` (``H``); the objective (kind ``objectives``) owns the
    output layer over them. Padding must not change any valid output frame: an
    utterance gives the same hidden features alone and padded inside a batch,
    and frames past a row's length are 0.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    @property
    @abc.abstractmethod
    def output_dim(self) -> int:
        """``H``, the size of one hidden frame."""

    @property
    @abc.abstractmethod
    def subsampling(self) -> int:
        """How many input frames one output frame spans (for timestamps)."""

    @abc.abstractmethod
    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        """``(B,)`` input frame counts → ``(B,)`` output frame counts ``T'``."""

    @abc.abstractmethod
    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, D)`` features and ``(B,)`` lengths → ``(B, T', H)`` hidden features and ``(B,)`` lengths."""

    @classmethod
    def upgrade_state_dict(cls, state: dict[str, torch.Tensor], checkpoint_format: int) -> dict[str, torch.Tensor]:
        """The model weights of a checkpoint written in an older ``checkpoint_format``, renamed for today's model.

        ``state`` is the whole acoustic model's state dict (keys ``features.*``,
        ``encoder.*``, ``objective.*``). Encoders that existed when the format
        changed override this; the default returns ``state`` unchanged.
        """
        return state


@dataclass(frozen=True)
class EncoderOutput:
    """What an objective computes its loss on.

    ``hidden``: ``(B, T', H)`` final hidden features; ``lengths``: ``(B,)``
    valid frames; ``intermediate``: the outputs of the encoder layers the
    objective asked for (:attr:`Objective.intermediate_layers`), by layer
    number, each ``(B, T', H_layer)``.
    """

    hidden: torch.Tensor
    lengths: torch.Tensor
    intermediate: Mapping[int, torch.Tensor] = field(default_factory=dict)


class Objective(nn.Module, abc.ABC):
    """The training objective and its output layer(s) over the encoder's hidden features (kind ``objectives``).

    Constructed as ``cls(config, input_dim=H, tokenizer=...)``; an objective
    whose constructor also takes an ``encoder`` parameter gets the built
    encoder (to size heads on intermediate layers, say). It owns every
    parameter past the encoder, so its weights are saved with the model.

    It answers three questions: the loss of each utterance (:meth:`loss`),
    whether a transcript can be learned from its frames at all (:meth:`fits`,
    which the data layer uses to leave utterances out before training), and
    what decoders read (:meth:`forward`: ``(B, T', V)`` log-probabilities).
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    intermediate_layers: tuple[int, ...] = ()
    """Encoder layers (numbered from 1) whose outputs :meth:`loss` reads; the encoder must then be
    :class:`IntermediateOutputs`."""

    @abc.abstractmethod
    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T', H)`` hidden features and ``(B,)`` lengths → ``(B, T', V)`` float32 log-probabilities.

        What decoders consume; frames past a row's length carry ``-log V``
        (logits 0). Must be traceable: ``asrkit export`` puts it in the graph.
        """

    @abc.abstractmethod
    def loss(self, encoded: EncoderOutput, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        """``(B,)`` loss of each utterance (float32), for label-id ``targets`` (no blanks).

        Normalized per utterance as the objective sees fit (CTC: nats per
        target label), so that the trainer can average it over utterances.
        Utterances that cannot be learned get 0, not infinity.
        """

    @abc.abstractmethod
    def fits(self, output_lengths: torch.Tensor, targets: Sequence[Sequence[int]]) -> torch.Tensor:
        """``(B,)`` bool: whether each transcript can be learned from its ``(B,)`` ``T'`` frames."""


class Tokenizer(abc.ABC):
    """Text ↔ CTC label ids (kind ``tokenizers``).

    Constructed as ``cls(config)``. Ids run from 0 to ``num_classes - 1`` and
    include the CTC blank at ``blank_id``. A tokenizer that learns from data
    (``needs_fit``) is fitted on the training transcripts at the start of a run
    and its learned state travels in the checkpoint (``state_dict``), so
    inference needs nothing else.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    needs_fit: bool = False

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """``V``: number of output classes of the acoustic model, blank included."""

    @property
    @abc.abstractmethod
    def blank_id(self) -> int:
        """Index of the CTC blank."""

    @property
    @abc.abstractmethod
    def labels(self) -> list[str]:
        """One string per class id, as a CTC beam decoder expects (blank as ``""``)."""

    @abc.abstractmethod
    def normalize(self, text: str) -> str:
        """The form of ``text`` the model is trained and scored on."""

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Label ids of normalized ``text`` (no blanks)."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of label ids (already collapsed, blanks removed)."""

    def fit(self, texts: Iterable[str], cache_dir: Path) -> None:
        """Learn the vocabulary from training transcripts; ``cache_dir`` may hold reusable results."""

    def state_dict(self) -> dict[str, Any]:
        """Learned state, made of tensors, numbers, strings, lists and dicts (``weights_only``-loadable)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class Decoder(abc.ABC):
    """Log-probabilities (from the objective) to text (kind ``decoders``).

    Constructed as ``cls(config, tokenizer=...)``. May hold resources (a
    process pool, a language model): they are created once and released by
    :meth:`close`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    @abc.abstractmethod
    def decode(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        frame_seconds: float | None = None,
    ) -> list[Hypothesis]:
        """``(B, T', V)`` log-probabilities and ``(B,)`` lengths → one hypothesis per row.

        With ``frame_seconds`` (the duration of one output frame) each hypothesis
        carries word timestamps in seconds.
        """

    def close(self) -> None:
        """Release resources."""


@dataclass
class RunInfo:
    """What a logger is told about the run it logs.

    ``run_dir`` is the run directory, ``recipe`` the resolved recipe. ``extra``
    holds what the engine lends its loggers (``extra["console"]``: the rich
    console to print on, so that lines land above the progress bars).
    ``resumed`` is true when ``asrkit run --resume`` continues an interrupted
    run in ``run_dir``. ``metrics_file`` is the ``metrics.jsonl`` the engine
    itself writes every report to (None outside ``asrkit run``).
    """

    run_dir: Path
    recipe: dict[str, Any]
    is_main_process: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    metrics_file: Path | None = None


class Logger(abc.ABC):
    """Receives metrics and artifacts of a run (kind ``loggers``).

    Constructed as ``cls(config, run=RunInfo(...))``, only on the main process.
    ``log_hyperparams`` receives the resolved recipe once. Metrics are flat
    ``{name: number}`` dicts with the global optimizer step.

    A run continued with ``--resume`` builds its loggers again with
    ``run.resumed`` true: ``log_hyperparams`` is not called again, and the
    steps between the last checkpoint and the interruption are logged again.
    A logger that tracks a run elsewhere (an experiment tracker) should
    continue the interrupted run's record, e.g. from an identifier it kept in
    ``run.run_dir``.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    def log_hyperparams(self, params: dict[str, Any]) -> None:
        """The resolved recipe, once at the start."""

    @abc.abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        """Numbers at a global step (e.g. ``train/loss``, ``valid/dev-clean/wer``)."""

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """A file produced by the run (e.g. per-utterance results)."""

    def close(self) -> None:
        """Flush and release; called once, also when the run fails."""


INTERFACES: dict[str, type] = {kind.name: globals()[kind.interface] for kind in KIND_TABLE}
"""The base class a component of each kind derives from."""


@runtime_checkable
class IntermediateOutputs(Protocol):
    """An encoder that can also return the outputs of chosen layers (an optional capability).

    Layers are numbered from 1 to ``num_layers`` (the last one's output may
    differ from the final hidden features, which can have a projection after
    it). Objectives that read intermediate layers (``inter_ctc``) need it.
    """

    @property
    def num_layers(self) -> int:
        """How many layers can be asked for."""

    def layer_dim(self, layer: int) -> int:
        """``H_layer``, the size of one output frame of ``layer``."""

    def forward_intermediate(
        self, features: torch.Tensor, lengths: torch.Tensor, layers: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        """Like ``forward``, plus ``{layer: (B, T', H_layer)}`` for each of ``layers`` (0 past each row's length)."""


@runtime_checkable
class Exportable(Protocol):
    """A component that ``torch.jit.trace``/``torch.export`` cannot capture as it is (an optional capability).

    ``export_module()`` returns a module with the same ``forward`` contract and
    the same outputs on every valid frame, without packed sequences or
    data-dependent shapes; ``asrkit export`` traces that instead.
    """

    def export_module(self) -> nn.Module:
        """The traceable form of this component."""


@runtime_checkable
class Fittable(Protocol):
    """A component that learns from training data before the first step (an optional capability).

    ``needs_fit`` may depend on the config; when it is true the engine calls
    ``fit`` once (feature extractors: with ``(waveforms, lengths)`` batches of
    training audio; tokenizers: with the training transcripts and a cache folder).
    """

    needs_fit: bool

    def fit(self, *args: Any) -> None:
        """Learn from training data."""


CAPABILITIES: dict[str, type] = {
    "IntermediateOutputs": IntermediateOutputs,
    "Exportable": Exportable,
    "Fittable": Fittable,
}
"""The optional capabilities a component may declare, by name (see ``capabilities`` in :mod:`asrkit.testing`)."""
