"""The training loop: epochs of optimizer steps, validation, checkpoints. Read it top to bottom.

One optimizer step covers ``accumulate_grad`` batches (a *window*). For each
batch, on every rank:

1. forward on the training device (features and augmenters included) to the
   objective's loss per utterance (CTC: divided by its transcript length);
2. one small all-reduce of ``[loss sum, utterances, non-finite?, empty?,
   checkpoint due?]``, so that every rank takes the same decisions;
3. a non-finite loss on any rank (or a batch whose audio all failed to load)
   drops the whole window: no backward, no optimizer step. Non-finite batches
   are counted; ``max_nonfinite`` of them in a row stop the run;
4. otherwise backward of ``sum(loss) × world / global utterances / window``:
   DDP averages gradients over ranks, so the gradient is that of the mean over
   all utterances of the step, the same as one process with the whole batch.

At the end of a window: unscale (fp16: clipping must see the true gradients),
clip, step the optimizer and the schedule, unless the gradients are not
finite: that step is skipped (by the gradient scaler in fp16, which also
halves its scale) and counted with the non-finite batches. ``last.pt`` is
saved every ``checkpoint_every_steps`` steps or ``checkpoint_every_minutes``
minutes (rank 0's clock decides, through the all-reduce), and at the end of
each epoch after validation, when ``best.pt`` is also saved if the first
validation set's WER improved.

Resuming restores the model, optimizer, schedule, scaler, sampler position,
step counters and every rank's random state: on the CPU the resumed run
computes the same losses as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from asrkit.data.batches import Batch, SkipReport
from asrkit.data.sampler import DurationBatchSampler
from asrkit.engine import rng
from asrkit.engine.checkpoint import load_weights, model_payload, model_state, save_atomic
from asrkit.engine.distributed import World, all_gather_objects, all_reduce_sum
from asrkit.engine.evaluation import SetResult, evaluate
from asrkit.engine.loggers import MetricsLog
from asrkit.engine.precision import Precision
from asrkit.engine.progress import Progress
from asrkit.engine.skips import append_skips
from asrkit.errors import TrainingError
from asrkit.interfaces import Decoder, Tokenizer
from asrkit.model import AcousticModel
from asrkit.train_config import TrainConfig

LAST = "last.pt"
BEST = "best.pt"


@dataclass
class TrainState:
    """Where training is; saved in ``last.pt`` and restored by ``--resume``."""

    epoch: int = 0  # the epoch in progress, from 0; equals train.epochs once training is over
    batches_done: int = 0  # batches of that epoch already trained on (this rank's share)
    step: int = 0  # optimizer steps taken
    best_wer: float | None = None
    best_epoch: int | None = None
    best_valid: list[dict[str, Any]] = field(default_factory=list)  # validation results of best.pt
    nonfinite_total: int = 0
    nonfinite_streak: int = 0
    epoch_skipped: list[list[str]] = field(default_factory=list)  # [path, reason] of unreadable audio this epoch
    epoch_loss: list[float] = field(default_factory=lambda: [0.0, 0.0])  # loss sum, utterances this epoch
    log_window: list[float] = field(default_factory=lambda: [0.0, 0.0])  # the same since the last log line

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**data)


@dataclass
class EvalLoader:
    label: str
    loader: DataLoader


@dataclass
class TrainingParts:
    """What the loop works with (built by :mod:`asrkit.engine.session`); a bundle, not an actor."""

    config: TrainConfig
    recipe: dict[str, Any]  # resolved, saved in every checkpoint
    model: AcousticModel
    wrapped: nn.Module  # the model under DDP, or the model itself
    tokenizer: Tokenizer
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    precision: Precision
    sampler: DurationBatchSampler
    loader: DataLoader
    valid: list[EvalLoader]
    greedy: Decoder
    device: torch.device
    world: World
    checkpoint_dir: Path
    log: MetricsLog
    progress: Progress
    selection: SkipReport  # utterances left out before training
    last_save: float = field(default_factory=time.monotonic)


def fit(parts: TrainingParts, state: TrainState) -> TrainState:
    """Train from ``state`` to the last epoch."""
    while state.epoch < parts.config.epochs:
        train_epoch(parts, state)
        finish_epoch(parts, state)
    return state


def train_epoch(parts: TrainingParts, state: TrainState) -> None:
    """The rest of the current epoch, from ``state.batches_done``."""
    config, sampler = parts.config, parts.sampler
    sampler.set_epoch(state.epoch)
    sampler.set_position(state.batches_done)
    total = state.batches_done + len(sampler)
    parts.progress.start(f"epoch {state.epoch + 1}/{config.epochs}", total=total, completed=state.batches_done)
    parts.model.train()
    window_ok, window_sum, window_count = True, 0.0, 0.0
    checkpoint_due = False
    for batch in parts.loader:
        state.epoch_skipped += [[path, reason] for path, reason in batch.skipped]
        window_start = state.batches_done - state.batches_done % config.accumulate_grad
        window_size = min(config.accumulate_grad, total - window_start)
        state.batches_done += 1
        window_end = state.batches_done - window_start == window_size
        loss_sum, count, nonfinite, empty, due = batch_step(parts, batch, window_ok, window_end, window_size)
        checkpoint_due |= due
        if nonfinite:
            state.nonfinite_total += 1
            state.nonfinite_streak += 1
            check_streak(parts, state)
        window_ok = window_ok and not (nonfinite or empty)
        window_sum, window_count = window_sum + loss_sum, window_count + count
        info = {"step": state.step, "loss": loss_sum / max(count, 1), "lr": current_lr(parts)}
        parts.progress.advance(sum(batch.durations), **info)
        if not window_end:
            continue
        stepped = optimizer_step(parts, state) if window_ok else None
        if stepped is not None:
            record_step(parts, state, window_sum, window_count, *stepped)
            if checkpoint_due or _every(config.checkpoint_every_steps, state.step):
                if state.batches_done < total:  # the epoch's end saves anyway, after validation
                    save_last(parts, state)
                checkpoint_due = False
        parts.optimizer.zero_grad(set_to_none=True)
        window_ok, window_sum, window_count = True, 0.0, 0.0
    parts.progress.finish()


def batch_step(
    parts: TrainingParts, batch: Batch, window_ok: bool, window_end: bool, window_size: int
) -> tuple[float, float, bool, bool, bool]:
    """Forward one batch, agree with the other ranks, backward if all is well.

    Returns the global loss sum and utterance count, whether any rank had a
    non-finite loss or an empty batch, and whether rank 0 wants a checkpoint.
    """
    device, world = parts.device, parts.world
    # Gradients are all-reduced only on the window's last backward.
    sync = window_end or not world.distributed
    context = contextlib.nullcontext() if sync else parts.wrapped.no_sync()
    with context:
        per_utterance = None
        if len(batch):
            batch = batch.to(device, non_blocking=True)
            targets = [parts.tokenizer.encode(text) for text in batch.texts]
            with parts.precision.autocast():
                per_utterance = parts.wrapped(batch.waveforms, batch.lengths, targets).float()
            local_sum = per_utterance.sum().detach()
        else:
            local_sum = torch.zeros((), device=device)
        finite = torch.isfinite(local_sum)
        time_due = world.is_main and _minutes_elapsed(parts.last_save, parts.config.checkpoint_every_minutes)
        stats = torch.stack(
            [
                torch.where(finite, local_sum, torch.zeros_like(local_sum)).double(),
                torch.tensor(float(len(batch)), device=device, dtype=torch.float64),
                (~finite).double(),
                torch.tensor(float(len(batch) == 0), device=device, dtype=torch.float64),
                torch.tensor(float(time_due), device=device, dtype=torch.float64),
            ]
        )
        loss_sum, count, nonfinite, empty, due = all_reduce_sum(stats).tolist()
        if window_ok and not nonfinite and not empty and per_utterance is not None:
            scale = world.world_size / (count * window_size)
            backward = per_utterance.sum() * scale
            scaler = parts.precision.scaler
            (scaler.scale(backward) if scaler is not None else backward).backward()
    return loss_sum, count, nonfinite > 0, empty > 0, due > 0


def optimizer_step(parts: TrainingParts, state: TrainState) -> tuple[float, float] | None:
    """Clip and step; returns the gradient norm and the lr used, or None when the step was skipped.

    A step with inf/nan gradients is skipped and counted like a non-finite
    batch, so ``max_nonfinite`` of them in a row stop the run in fp16 too. In
    fp16 the first steps of a run usually include a few such skips: the
    scaler starts high and halves its scale on each overflow until it fits.
    """
    optimizer, scaler = parts.optimizer, parts.precision.scaler
    if scaler is not None:
        scaler.unscale_(optimizer)
    max_norm = parts.config.grad_clip if parts.config.grad_clip is not None else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(parts.model.parameters(), max_norm))
    if scaler is not None:
        # The scaler skips a step whose gradients hold inf/nan by itself, and lowers its scale.
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        stepped = scaler.get_scale() >= scale
    else:
        stepped = math.isfinite(norm)
        if stepped:
            optimizer.step()
    if not stepped:
        state.nonfinite_total += 1
        state.nonfinite_streak += 1
        check_streak(parts, state)
        return None
    lr = current_lr(parts)
    parts.schedule.step()
    state.step += 1
    state.nonfinite_streak = 0
    return norm, lr


def record_step(
    parts: TrainingParts, state: TrainState, loss_sum: float, count: float, grad_norm: float, lr: float
) -> None:
    """Add the step's loss to the epoch and log windows; log every ``log_every_steps`` steps."""
    state.epoch_loss = [state.epoch_loss[0] + loss_sum, state.epoch_loss[1] + count]
    state.log_window = [state.log_window[0] + loss_sum, state.log_window[1] + count]
    if not _every(parts.config.log_every_steps, state.step):
        return
    total, utterances = state.log_window
    parts.log.metrics(
        {
            "train/loss": total / utterances if utterances else math.nan,
            "train/lr": lr,
            "train/grad_norm": grad_norm,
            "train/audio_seconds_per_second": parts.progress.audio_per_second() * parts.world.world_size,
            "train/nonfinite_batches": state.nonfinite_total,
        },
        step=state.step,
        epoch=state.epoch + 1,
    )
    state.log_window = [0.0, 0.0]


def check_streak(parts: TrainingParts, state: TrainState) -> None:
    if state.nonfinite_streak < parts.config.max_nonfinite:
        return
    raise TrainingError(
        f"{state.nonfinite_streak} consecutive non-finite losses or gradients "
        f"(epoch {state.epoch + 1}, after step {state.step}); stopping: {_kept_checkpoint(parts)} "
        f"(lower train.optimizer.lr, set train.grad_clip, or check the data)"
    )


def finish_epoch(parts: TrainingParts, state: TrainState) -> None:
    """Report skips, validate, choose the best model, save checkpoints."""
    report_skips(parts, state)
    results = validate(parts)
    metrics: dict[str, float] = {}
    loss_sum, utterances = state.epoch_loss
    if utterances:
        metrics["epoch/train_loss"] = loss_sum / utterances
    for result in results:
        metrics[f"valid/{result.set}/wer"] = result.wer
        metrics[f"valid/{result.set}/cer"] = result.cer
        if result.loss is not None:
            metrics[f"valid/{result.set}/loss"] = result.loss
    metrics["epoch/nonfinite_batches"] = state.nonfinite_total
    parts.log.metrics(metrics, step=state.step, epoch=state.epoch + 1)
    # An empty (or wholly unreadable) validation set scores NaN, which never counts as an improvement.
    scored = bool(results) and math.isfinite(results[0].wer)
    improved = not results or (scored and (state.best_wer is None or results[0].wer < state.best_wer))
    state.epoch += 1
    state.batches_done = 0
    state.epoch_skipped = []
    state.epoch_loss = [0.0, 0.0]
    if improved:
        state.best_wer = results[0].wer if results else None
        state.best_epoch = state.epoch
        state.best_valid = [result.as_json() for result in results]
        save_best(parts, state)
    save_last(parts, state)


def report_skips(parts: TrainingParts, state: TrainState) -> None:
    """One warning line for the utterances left out of this epoch, and every one of them in ``skipped.jsonl``."""
    report = SkipReport()
    report.merge(parts.selection)
    for part in all_gather_objects(state.epoch_skipped):
        for path, reason in part:
            report.add(reason, path)
    if report.total:
        where = append_skips(parts.checkpoint_dir.parent, state.epoch + 1, report) if parts.world.is_main else None
        every = f"; every one in {where}" if where is not None else ""
        parts.progress.warn(f"epoch {state.epoch + 1}: {report.summary(per_reason=True)}{every}")


def validate(parts: TrainingParts) -> list[SetResult]:
    """Greedy WER/CER of the current model on every validation set."""
    results = []
    for valid in parts.valid:
        evaluation = evaluate(
            parts.model,
            valid.loader,
            {"greedy": parts.greedy},
            parts.tokenizer,
            label=valid.label,
            device=parts.device,
            precision=parts.precision,
            progress=parts.progress,
        )
        results.append(evaluation.results["greedy"])
    parts.model.train()
    return results


def save_best(parts: TrainingParts, state: TrainState) -> None:
    check_finite(parts, state)
    if parts.world.is_main:
        save_atomic(_payload(parts, state), parts.checkpoint_dir / BEST)


def save_last(parts: TrainingParts, state: TrainState) -> None:
    """Everything ``--resume`` needs; every rank takes part (their random states are gathered)."""
    check_finite(parts, state)
    parts.sampler.set_epoch(state.epoch)  # the running epoch's batch list is already built: this changes nothing in it
    parts.sampler.set_position(state.batches_done)
    states = all_gather_objects(rng.capture(parts.device))
    if parts.world.is_main:
        payload = _payload(parts, state)
        payload["training"] = {
            "state": state.as_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "schedule": parts.schedule.state_dict(),
            "scaler": parts.precision.scaler.state_dict() if parts.precision.scaler is not None else None,
            "sampler": parts.sampler.state_dict(),
            "rng": states,
            "world_size": parts.world.world_size,
        }
        save_atomic(payload, parts.checkpoint_dir / LAST)
    parts.last_save = time.monotonic()


def _payload(parts: TrainingParts, state: TrainState) -> dict[str, Any]:
    """The model, recipe and tokenizer at this step, with the validation results of the best epoch so far."""
    payload = model_payload(parts.recipe, parts.model, parts.tokenizer)
    payload["step"] = state.step
    payload["metrics"] = {"best_epoch": state.best_epoch, "valid": state.best_valid}
    return payload


def check_finite(parts: TrainingParts, state: TrainState) -> None:
    """Never replace a good checkpoint with a broken model."""
    if all(bool(torch.isfinite(p).all()) for p in parts.model.parameters()):
        return
    raise TrainingError(
        f"the model's weights are not finite after step {state.step}; stopping without saving "
        f"({_kept_checkpoint(parts)}); lower train.optimizer.lr or set train.grad_clip"
    )


def _kept_checkpoint(parts: TrainingParts) -> str:
    """What a stopped run leaves to resume from: only say a checkpoint is kept when there is one."""
    last = parts.checkpoint_dir / LAST
    return f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved yet"


def restore(parts: TrainingParts, checkpoint: dict[str, Any]) -> TrainState:
    """Load ``last.pt``'s training state into ``parts``; returns the state to continue from."""
    training = checkpoint["training"]
    load_weights(
        parts.model,
        model_state(checkpoint, parts.model),
        f"--resume: {parts.checkpoint_dir / LAST} does not fit the model",
    )
    parts.optimizer.load_state_dict(training["optimizer"])
    parts.schedule.load_state_dict(training["schedule"])
    if parts.precision.scaler is not None and training.get("scaler") is not None:
        parts.precision.scaler.load_state_dict(training["scaler"])
    parts.sampler.load_state_dict(training["sampler"])
    rng.restore(training["rng"][parts.world.rank], parts.device)
    return TrainState.from_dict(training["state"])


def current_lr(parts: TrainingParts) -> float:
    return float(parts.optimizer.param_groups[0]["lr"])


def _every(interval: int | None, step: int) -> bool:
    return bool(interval) and step % interval == 0


def _minutes_elapsed(since: float, minutes: float | None) -> bool:
    return minutes is not None and time.monotonic() - since >= minutes * 60
