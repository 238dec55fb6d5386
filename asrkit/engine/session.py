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

from asrkit import __version__
from asrkit.engine import rng
from asrkit.engine.checkpoint import load_checkpoint, model_state, remove_stale_temporaries
from asrkit.engine.distributed import World, barrier, broadcast_object, init_process_group, shutdown, world_from_env
from asrkit.engine.evaluation import SetResult, evaluate
from asrkit.engine.finetune import freeze_for_steps, frozen_parameters
from asrkit.engine.loggers import MetricsLog, open_loggers
from asrkit.engine.parts import DataPart, EvalLoader, ReportPart, StepPart, build_training, make_eval_loader
from asrkit.engine.precision import fallback_notice
from asrkit.engine.progress import Progress
from asrkit.engine.results import results_table, write_hypotheses, write_results
from asrkit.engine.resume import check_resumable
from asrkit.engine.setup import resolve_device
from asrkit.engine.trainer import BEST, LAST, TrainState, fit, restore
from asrkit.errors import CheckpointError
from asrkit.interfaces import Decoder
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
    log = MetricsLog([])
    training = None
    try:
        log = open_loggers(registry, recipe, run_dir, progress.console, world.is_main, resumed=checkpoint is not None)
        training = build_training(
            registry,
            recipe,
            world=world,
            device=device,
            run_dir=run_dir,
            log=log,
            progress=progress,
            checkpoint=checkpoint,
        )
        step, data, report = training.step, training.data, training.report
        # Weights are initialized alike on every rank; from here on each rank draws its own randomness.
        rng.seed_everything(recipe.train.seed + 1_000_003 * world.rank)
        if checkpoint is not None:
            state = restore(step, data, report, checkpoint)
            progress.print(f"resuming {run_dir} at epoch {state.epoch + 1}, step {state.step}")
        else:
            state = TrainState()
            log.hyperparams(report.recipe)
        _announce(progress, step, data, recipe)
        frozen = frozen_parameters(step.model, recipe.train.freeze)
        freeze_for_steps(step.optimizer, frozen, recipe.train.freeze_steps - state.step)
        notice = fallback_notice(recipe.train.precision, step.precision)
        if notice is not None:
            progress.warn(notice)
        state = fit(step, data, report, state)
        tests = [EvalLoader(s.label, make_eval_loader(s.entries, recipe, world, device)) for s in training.corpus.test]
        sections = {
            "valid": [SetResult(**r) for r in state.best_valid],
            "test": test(step, report, training.decoders.test, tests, run_dir, state.step),
        }
        if world.is_main:
            write_results(run_dir / "results.json", sections)
            log.artifact(run_dir / "results.json")
            progress.close()
            progress.console.print(results_table(sections))
            progress.print(f"run directory: {run_dir}")
    finally:
        if training is not None:
            training.decoders.close()
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


def test(
    step: StepPart,
    report: ReportPart,
    decoders: dict[str, Decoder],
    tests: list[EvalLoader],
    run_dir: Path,
    at_step: int,
) -> list[SetResult]:
    """Score the best checkpoint on every test set, with the validation decoder and the recipe's decoder."""
    if not tests:
        return []
    barrier()  # best.pt was written by rank 0
    best = report.checkpoint_dir / BEST
    if best.exists():
        step.model.load_state_dict(model_state(load_checkpoint(best), step.model))
    results = []
    for test_set in tests:
        evaluation = evaluate(
            step.model,
            test_set.loader,
            decoders,
            step.tokenizer,
            label=test_set.label,
            device=step.device,
            precision=step.precision,
            progress=report.progress,
            keep_hypotheses=True,
        )
        results += evaluation.results.values()
        if step.world.is_main:
            for name, records in evaluation.hypotheses.items():
                report.log.artifact(write_hypotheses(run_dir, test_set.label, name, records))
            metrics = {
                f"test/{r.set}/{r.decoder}/{key}": getattr(r, key)
                for r in evaluation.results.values()
                for key in ("wer", "cer")
            }
            report.log.metrics(metrics, step=at_step)
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


def _announce(progress: Progress, step: StepPart, data: DataPart, recipe: Recipe) -> None:
    params = sum(p.numel() for p in step.model.parameters())
    entries = data.loader.dataset.entries
    hours = sum(utterance.duration for _, utterance in entries) / 3600
    progress.print(
        f"asrkit {__version__}: training {params:,} parameters on {len(entries)} utterances ({hours:.2f} h), "
        f"{recipe.objective.name} objective, {recipe.tokenizer.name} tokenizer "
        f"({step.tokenizer.num_classes} classes), {step.device} {step.precision.name}, "
        f"{step.world.world_size} process(es), "
        f"{len(data.sampler)} batches per epoch per process"
    )
