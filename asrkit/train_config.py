"""The ``train`` section of a recipe: optimizer, schedule, batching and run settings.

Every number has a range (``valid=``), checked when the recipe is validated:
``lr: -1`` or ``epochs: 0`` is a one-line error naming the key, not a
traceback in the first step or a run that trains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asrkit.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range, param


@dataclass(frozen=True)
class OptimizerConfig:
    name: Literal["adamw", "adam", "sgd"] = param("adamw", help="optimizer")
    lr: float = param(5e-4, help="peak learning rate", valid=POSITIVE)
    weight_decay: float = param(0.01, help="decoupled weight decay (adamw) or L2 (adam, sgd)", valid=NON_NEGATIVE)
    betas: tuple[float, float] = param((0.9, 0.999), help="Adam betas", valid=Range(0, 1, high_open=True))
    momentum: float = param(0.9, help="SGD momentum", valid=Range(0, 1, high_open=True))


@dataclass(frozen=True)
class ScheduleConfig:
    name: Literal["onecycle", "constant", "warmup_cosine"] = param(
        "onecycle", help="learning-rate schedule, stepped once per optimizer step"
    )
    pct_start: float = param(
        0.3, help="onecycle: fraction of steps spent warming up", valid=Range(0, 1, low_open=True, high_open=True)
    )
    anneal_strategy: Literal["linear", "cos"] = param("linear", help="onecycle: annealing shape")
    div_factor: float = param(25.0, help="onecycle: initial lr = lr / div_factor", valid=POSITIVE)
    final_div_factor: float = param(1e4, help="onecycle: final lr = initial lr / final_div_factor", valid=POSITIVE)
    warmup_steps: int = param(0, help="warmup_cosine: linear warmup steps", valid=NON_NEGATIVE)
    cycle_momentum: bool = param(
        True, help="onecycle: cycle momentum (Adam's beta1, SGD's momentum) from 0.95 to 0.85 and back, as torch does"
    )


@dataclass(frozen=True)
class BatchConfig:
    max_seconds: float = param(
        320.0, help="bound on a batch's padded audio: utterances × longest duration, in seconds", valid=POSITIVE
    )
    max_utterances: int | None = param(None, help="optional bound on utterances per batch", valid=AT_LEAST_ONE)
    num_buckets: int = param(30, help="length buckets used to group similar durations", valid=AT_LEAST_ONE)
    max_duration: float | None = param(None, help="skip training utterances longer than this (seconds)", valid=POSITIVE)
    shuffle: bool = param(True, help="shuffle training batches each epoch; false: a fixed longest-first order")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = param(10, help="passes over the training data", valid=AT_LEAST_ONE)
    seed: int = param(7, help="seed for weights, shuffling and augmentation", valid=Range(0, 2**32 - 1))
    device: str = param("auto", help="'auto' (cuda if available), 'cpu', 'cuda' or 'cuda:N'")
    precision: Literal["fp32", "bf16", "fp16"] = param(
        "fp32", help="autocast precision on CUDA (fp16 with a gradient scaler); the CPU trains in fp32, and says so"
    )
    optimizer: OptimizerConfig = param(default_factory=OptimizerConfig, help="optimizer settings")
    schedule: ScheduleConfig = param(default_factory=ScheduleConfig, help="learning-rate schedule")
    batch: BatchConfig = param(default_factory=BatchConfig, help="batching by duration")
    grad_clip: float | None = param(
        1.0, help="clip the gradient norm to this value (null: no clipping)", valid=POSITIVE
    )
    accumulate_grad: int = param(1, help="batches per optimizer step", valid=AT_LEAST_ONE)
    num_workers: int = param(2, help="DataLoader worker processes reading audio", valid=NON_NEGATIVE)
    threads: int | None = param(
        None,
        help="intra-op CPU threads of each training process (torch.set_num_threads); null: torch's default",
        valid=AT_LEAST_ONE,
    )
    log_every_steps: int = param(10, help="log training metrics every N optimizer steps", valid=AT_LEAST_ONE)
    checkpoint_every_steps: int | None = param(
        None, help="also save 'last' every N optimizer steps", valid=AT_LEAST_ONE
    )
    checkpoint_every_minutes: float | None = param(10.0, help="also save 'last' every N minutes", valid=POSITIVE)
    max_nonfinite: int = param(
        20,
        help="stop after this many consecutive non-finite losses or skipped steps (inf/nan gradients)",
        valid=AT_LEAST_ONE,
    )
    init_from: str | None = param(
        None, help="start from this checkpoint's weights (not its optimizer or schedule); see docs/training.md"
    )
    freeze: tuple[str, ...] = param((), help="parts kept unchanged for the first freeze_steps steps (e.g. [encoder])")
    freeze_steps: int = param(0, help="optimizer steps during which the freeze parts do not change")
    compile: bool = param(
        False,
        help="torch.compile the encoder on CUDA; its GRUs stay eager (dynamo leaves RNN modules out of its graphs)",
    )
