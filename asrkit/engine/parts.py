"""What the training loop works with, as three small parts, and the one function that builds them from a recipe.

- :class:`StepPart`: what one optimizer step needs (the model and its DDP
  wrapper, the tokenizer for the targets, optimizer, schedule, precision,
  device and ranks);
- :class:`DataPart`: the training batches (sampler and loader), the
  validation loaders and what was left out of the training set;
- :class:`ReportPart`: where results go (metrics log, progress display,
  checkpoint folder, the resolved recipe saved in checkpoints) and the
  validation decoder that picks ``best.pt``.

:func:`build_training` builds them exactly as ``asrkit run`` does;
``bench/train_throughput.py`` calls the same function, so the benchmark
measures the steps a real run takes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from asrkit.data.batches import Entry, SkipReport, UtteranceDataset
from asrkit.data.sampler import DurationBatchSampler
from asrkit.engine import rng
from asrkit.engine.distributed import World
from asrkit.engine.finetune import initialize_from
from asrkit.engine.loaders import eval_loader, train_loader, train_sampler
from asrkit.engine.loggers import MetricsLog
from asrkit.engine.optim import build_optimizer, build_schedule, optimizer_steps_per_epoch
from asrkit.engine.precision import Precision, precision_for
from asrkit.engine.progress import Progress
from asrkit.engine.setup import (
    Corpus,
    Decoders,
    fit_features,
    load_corpus,
    make_decoders,
    make_model,
    make_tokenizer,
    trainable,
)
from asrkit.errors import DataError
from asrkit.interfaces import Decoder, Tokenizer
from asrkit.model import AcousticModel
from asrkit.recipe import Recipe
from asrkit.registry import Registry
from asrkit.train_config import TrainConfig


@dataclass
class EvalLoader:
    """A validation or test set's batches, with its label."""

    label: str
    loader: DataLoader


@dataclass
class StepPart:
    """What one optimizer step needs."""

    config: TrainConfig
    model: AcousticModel
    wrapped: nn.Module  # the model under DDP, or the model itself: what the forward pass calls
    tokenizer: Tokenizer
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    precision: Precision
    device: torch.device
    world: World


@dataclass
class DataPart:
    """The training batches and the validation sets."""

    sampler: DurationBatchSampler
    loader: DataLoader
    valid: list[EvalLoader]
    selection: SkipReport  # utterances left out before training


@dataclass
class ReportPart:
    """Where the loop reports: metrics, progress, checkpoints, and the decoder validation scores with."""

    recipe: dict[str, Any]  # resolved, saved in every checkpoint
    checkpoint_dir: Path
    log: MetricsLog
    progress: Progress
    valid_decoder: Decoder  # train.valid_decoder
    valid_label: str  # its name, in metric names and results
    last_save: float = field(default_factory=time.monotonic)


@dataclass
class Training:
    """The three parts, and what the session needs around them: the corpus (its test sets) and the decoders."""

    step: StepPart
    data: DataPart
    report: ReportPart
    corpus: Corpus
    decoders: Decoders


def build_training(
    registry: Registry,
    recipe: Recipe,
    *,
    world: World,
    device: torch.device,
    run_dir: Path,
    log: MetricsLog,
    progress: Progress,
    checkpoint: dict[str, Any] | None = None,
) -> Training:
    """Everything a run trains with, from the recipe: corpus, tokenizer, model, decoders, then the three parts.

    With ``checkpoint`` (``--resume``), the tokenizer's state comes from it and
    the feature statistics are not fitted again (the weights are restored by
    :func:`asrkit.engine.trainer.restore`). The caller owns ``log`` and closes
    the decoders (``training.decoders.close()``).
    """
    corpus = load_corpus(registry, recipe, world)
    if not corpus.train:
        raise DataError("data.train: no training utterances (is the recipe's data section right?)")
    tokenizer, model = build_model_for(registry, recipe, corpus, checkpoint, device, world)
    if checkpoint is None and recipe.train.init_from is not None:  # a new run from trained weights
        progress.print(initialize_from(recipe.train.init_from, model, tokenizer, registry))
    # Built before training, so that a bad decoder setting (a missing LM file) fails now, not after it.
    decoders = make_decoders(registry, recipe, tokenizer)
    try:
        step, data = _step_and_data(recipe, corpus.train, tokenizer, model, device, world)
        data.valid = [EvalLoader(s.label, make_eval_loader(s.entries, recipe, world, device)) for s in corpus.valid]
    except BaseException:
        decoders.close()
        raise
    report = ReportPart(
        recipe=recipe.resolved(),
        checkpoint_dir=run_dir / "checkpoints",
        log=log,
        progress=progress,
        valid_decoder=decoders.valid,
        valid_label=decoders.valid_label,
    )
    return Training(step, data, report, corpus, decoders)


def build_model_for(
    registry: Registry,
    recipe: Recipe,
    corpus: Corpus,
    checkpoint: dict[str, Any] | None,
    device: torch.device,
    world: World,
) -> tuple[Tokenizer, AcousticModel]:
    """The tokenizer (fitted, or restored) and the model on ``device`` (feature statistics fitted unless resuming)."""
    config = recipe.train
    rng.seed_everything(config.seed)
    texts = [utterance.text for _, utterance in corpus.train]
    state = checkpoint["tokenizer"] if checkpoint is not None else None
    tokenizer = make_tokenizer(registry, recipe, texts, world, state=state)
    model = make_model(registry, recipe, tokenizer, config.seed).to(device)
    if checkpoint is None:
        fit_features(
            model,
            corpus.train,
            recipe.data.sample_rate,
            config.batch,
            device=device,
            num_workers=config.num_workers,
            seed=config.seed,
        )
    return tokenizer, model


def _step_and_data(
    recipe: Recipe,
    train: Sequence[Entry],
    tokenizer: Tokenizer,
    model: AcousticModel,
    device: torch.device,
    world: World,
) -> tuple[StepPart, DataPart]:
    """Select the trainable utterances, and build the loader, optimizer, schedule and DDP wrapper."""
    config = recipe.train
    selected, selection = trainable(train, recipe, tokenizer, model)
    dataset = UtteranceDataset(selected, recipe.data.sample_rate)
    sampler = train_sampler(dataset.durations, config.batch, config.seed, world)
    optimizer = build_optimizer(model.parameters(), config.optimizer)
    steps = config.epochs * optimizer_steps_per_epoch(len(sampler), config.accumulate_grad)
    step = StepPart(
        config=config,
        model=model,
        wrapped=wrap(model, device, world, config.compile),
        tokenizer=tokenizer,
        optimizer=optimizer,
        schedule=build_schedule(optimizer, config.schedule, steps),
        precision=precision_for(config.precision, device),
        device=device,
        world=world,
    )
    loader = train_loader(dataset, sampler, num_workers=config.num_workers, device=device, seed=config.seed)
    return step, DataPart(sampler=sampler, loader=loader, valid=[], selection=selection)


def wrap(model: AcousticModel, device: torch.device, world: World, compile: bool) -> nn.Module:
    """DDP across ranks; ``torch.compile`` of the encoder on CUDA when asked (state_dict keys unchanged)."""
    if compile and device.type == "cuda":
        model.encoder.compile(dynamic=True)
    if not world.distributed:
        return model
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        # Buffers (feature statistics, filterbanks) are equal on every rank and never change in training.
        broadcast_buffers=False,
    )


def make_eval_loader(entries: Sequence[Entry], recipe: Recipe, world: World, device: torch.device) -> DataLoader:
    """Batches of a validation or test set, as the recipe's ``train`` section sizes them."""
    return eval_loader(
        entries, recipe.data.sample_rate, recipe.train.batch, world, num_workers=recipe.train.num_workers, device=device
    )
