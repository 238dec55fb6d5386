"""``asrkit run`` from start to end: set up, train (or resume), test the best model, write results.

The run directory holds ``recipe.yaml`` (resolved), ``metrics.jsonl``,
``checkpoints/{last,best}.pt``, ``results.json`` and one
``<set>.<decoder>.hyp.jsonl`` per test set and decoder. Under torchrun every
rank runs this same function; only rank 0 writes.

A resumed run appends to ``metrics.jsonl``: the steps between the checkpoint
and the interruption appear twice, the later lines being the resumed run's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel

from asrkit import __version__
from asrkit.data.batches import UtteranceDataset
from asrkit.engine import rng
from asrkit.engine.checkpoint import load_checkpoint, model_state, remove_stale_temporaries
from asrkit.engine.distributed import World, barrier, broadcast_object, init_process_group, shutdown, world_from_env
from asrkit.engine.evaluation import SetResult, evaluate
from asrkit.engine.loaders import eval_loader, train_loader, train_sampler
from asrkit.engine.loggers import MetricsLog, open_loggers
from asrkit.engine.optim import build_optimizer, build_schedule, optimizer_steps_per_epoch
from asrkit.engine.precision import fallback_notice, precision_for
from asrkit.engine.progress import Progress
from asrkit.engine.results import results_table, write_hypotheses, write_results
from asrkit.engine.resume import check_resumable
from asrkit.engine.setup import (
    Corpus,
    close_decoders,
    fit_features,
    load_corpus,
    make_decoders,
    make_model,
    make_tokenizer,
    resolve_device,
    trainable,
)
from asrkit.engine.trainer import BEST, LAST, EvalLoader, TrainingParts, TrainState, fit, restore
from asrkit.errors import CheckpointError, DataError
from asrkit.interfaces import Decoder, Tokenizer
from asrkit.model import AcousticModel
from asrkit.recipe import Recipe, dump_yaml, load_recipe
from asrkit.registry import Registry, load_registry


@dataclass(frozen=True)
class RunOptions:
    recipe_file: str
    overrides: tuple[str, ...] = ()
    out: Path | None = None
    resume: bool = False
    quiet: bool = False


def default_run_dir(recipe_file: str) -> Path:
    return Path("runs") / f"{Path(recipe_file).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def run(options: RunOptions, console: Console | None = None) -> Path:
    """Train, validate and test the recipe; returns the run directory."""
    world = world_from_env()
    registry = load_registry()
    recipe = load_recipe(options.recipe_file, list(options.overrides), registry)
    if recipe.train.threads is not None:
        torch.set_num_threads(recipe.train.threads)
    device = resolve_device(recipe.train.device, world)
    init_process_group(world, device)
    # Every rank must agree on the folder; rank 0's clock names it.
    run_dir = Path(broadcast_object(str(options.out or default_run_dir(options.recipe_file))))
    console = console or Console(highlight=False)
    progress = Progress(console, bars=not options.quiet, enabled=world.is_main)
    try:
        _run(options, registry, recipe, run_dir, device, world, progress)
    finally:
        progress.close()
    shutdown()
    return run_dir


def _run(
    options: RunOptions,
    registry: Registry,
    recipe: Recipe,
    run_dir: Path,
    device: torch.device,
    world: World,
    progress: Progress,
) -> None:
    checkpoint = _start_run_dir(run_dir, recipe, options.resume, world, progress)
    corpus = load_corpus(registry, recipe, world)
    if not corpus.train:
        raise DataError("data.train: no training utterances (is the recipe's data section right?)")
    tokenizer, model = _build_model(registry, recipe, corpus, checkpoint, device, world)
    # Built before training, so that a bad decoder setting (a missing LM file) fails now, not after it.
    decoders = make_decoders(registry, recipe, tokenizer)
    log = MetricsLog([])
    try:
        log = open_loggers(registry, recipe, run_dir, progress.console, world.is_main, resumed=checkpoint is not None)
        parts = _training_parts(
            recipe, corpus, tokenizer, model, decoders["greedy"], run_dir, device, world, log, progress
        )
        # Weights are initialized alike on every rank; from here on each rank draws its own randomness.
        rng.seed_everything(recipe.train.seed + 1_000_003 * world.rank)
        if checkpoint is not None:
            state = restore(parts, checkpoint)
            progress.print(f"resuming {run_dir} at epoch {state.epoch + 1}, step {state.step}")
        else:
            state = TrainState()
            log.hyperparams(parts.recipe)
        _announce(progress, parts, recipe)
        notice = fallback_notice(recipe.train.precision, parts.precision)
        if notice is not None:
            progress.warn(notice)
        state = fit(parts, state)
        tests = [EvalLoader(s.label, _eval_loader(s.entries, recipe, world, device)) for s in corpus.test]
        sections = {
            "valid": [SetResult(**r) for r in state.best_valid],
            "test": test(parts, decoders, tests, run_dir, state.step),
        }
        if world.is_main:
            write_results(run_dir / "results.json", sections)
            log.artifact(run_dir / "results.json")
            progress.close()
            progress.console.print(results_table(sections))
            progress.print(f"run directory: {run_dir}")
    finally:
        close_decoders(decoders)
        log.close()


def _start_run_dir(
    run_dir: Path, recipe: Recipe, resume: bool, world: World, progress: Progress
) -> dict[str, Any] | None:
    """Check the folder against ``--resume``, write the resolved recipe; returns the checkpoint to resume."""
    checkpoint = _checkpoint_to_resume(run_dir / "checkpoints", resume)
    if checkpoint is not None:
        check_resumable(checkpoint["recipe"], recipe.resolved(), str(run_dir / "checkpoints" / LAST))
    if world.is_main:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir / "checkpoints")
        resolved = recipe.resolved()
        (run_dir / "recipe.yaml").write_text(dump_yaml(resolved), encoding="utf-8")
        if checkpoint is not None:
            _warn_recipe_changes(progress, checkpoint["recipe"], resolved)
    return checkpoint


def _build_model(
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


def _training_parts(
    recipe: Recipe,
    corpus: Corpus,
    tokenizer: Tokenizer,
    model: AcousticModel,
    greedy: Decoder,
    run_dir: Path,
    device: torch.device,
    world: World,
    log: MetricsLog,
    progress: Progress,
) -> TrainingParts:
    """Select the trainable utterances, and build the loaders, optimizer, schedule and DDP wrapper."""
    config = recipe.train
    selected, selection = trainable(corpus.train, recipe, tokenizer, model)
    dataset = UtteranceDataset(selected, recipe.data.sample_rate)
    sampler = train_sampler(dataset.durations, config.batch, config.seed, world)
    optimizer = build_optimizer(model.parameters(), config.optimizer)
    schedule = build_schedule(
        optimizer, config.schedule, config.epochs * optimizer_steps_per_epoch(len(sampler), config.accumulate_grad)
    )
    return TrainingParts(
        config=config,
        recipe=recipe.resolved(),
        model=model,
        wrapped=_wrap(model, device, world, config.compile),
        tokenizer=tokenizer,
        optimizer=optimizer,
        schedule=schedule,
        precision=precision_for(config.precision, device),
        sampler=sampler,
        loader=train_loader(dataset, sampler, num_workers=config.num_workers, device=device, seed=config.seed),
        valid=[EvalLoader(s.label, _eval_loader(s.entries, recipe, world, device)) for s in corpus.valid],
        greedy=greedy,
        device=device,
        world=world,
        checkpoint_dir=run_dir / "checkpoints",
        log=log,
        progress=progress,
        selection=selection,
    )


def test(
    parts: TrainingParts, decoders: dict[str, Decoder], tests: list[EvalLoader], run_dir: Path, step: int
) -> list[SetResult]:
    """Score the best checkpoint on every test set, with greedy and with the recipe's decoder."""
    if not tests:
        return []
    barrier()  # best.pt was written by rank 0
    best = parts.checkpoint_dir / BEST
    if best.exists():
        parts.model.load_state_dict(model_state(load_checkpoint(best), parts.model))
    results = []
    for test_set in tests:
        evaluation = evaluate(
            parts.model,
            test_set.loader,
            decoders,
            parts.tokenizer,
            label=test_set.label,
            device=parts.device,
            precision=parts.precision,
            progress=parts.progress,
            keep_hypotheses=True,
        )
        results += evaluation.results.values()
        if parts.world.is_main:
            for name, records in evaluation.hypotheses.items():
                parts.log.artifact(write_hypotheses(run_dir, test_set.label, name, records))
            metrics = {
                f"test/{r.set}/{r.decoder}/{key}": getattr(r, key)
                for r in evaluation.results.values()
                for key in ("wer", "cer")
            }
            parts.log.metrics(metrics, step=step)
    return results


def _checkpoint_to_resume(checkpoint_dir: Path, resume: bool) -> dict | None:
    last = checkpoint_dir / LAST
    if not resume:
        if last.exists():
            raise CheckpointError(
                f"{checkpoint_dir.parent} already holds a run ({last}); "
                "continue it with --resume or choose another --out"
            )
        return None
    checkpoint = load_checkpoint(last)
    if "training" not in checkpoint:
        raise CheckpointError(f"{last} has no training state to resume from")
    return checkpoint


def _warn_recipe_changes(progress: Progress, saved: dict, resolved: dict) -> None:
    changed = [key for key in resolved if saved.get(key) != resolved[key]]
    if changed:
        progress.warn(f"resuming with a recipe that differs from the checkpoint's in: {', '.join(changed)}")


def _wrap(model: torch.nn.Module, device: torch.device, world: World, compile: bool) -> torch.nn.Module:
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


def _eval_loader(entries, recipe: Recipe, world: World, device: torch.device):
    return eval_loader(
        entries, recipe.data.sample_rate, recipe.train.batch, world, num_workers=recipe.train.num_workers, device=device
    )


def _announce(progress: Progress, parts: TrainingParts, recipe: Recipe) -> None:
    params = sum(p.numel() for p in parts.model.parameters())
    entries = parts.loader.dataset.entries
    hours = sum(utterance.duration for _, utterance in entries) / 3600
    progress.print(
        f"asrkit {__version__}: training {params:,} parameters on {len(entries)} utterances ({hours:.2f} h), "
        f"{recipe.objective.name} objective, {recipe.tokenizer.name} tokenizer "
        f"({parts.tokenizer.num_classes} classes), {parts.device} {parts.precision.name}, "
        f"{parts.world.world_size} process(es), "
        f"{len(parts.sampler)} batches per epoch per process"
    )
