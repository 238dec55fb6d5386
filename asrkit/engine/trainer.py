"""The training loop: epochs of optimizer steps, validation, checkpoints. Read it top to bottom.

It works with three parts (:mod:`asrkit.engine.parts`): ``step`` (model,
optimizer, schedule, precision), ``data`` (batches, validation sets) and
``report`` (metrics, progress, checkpoints); each function takes the ones it
uses.

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
from typing import Any

import torch

from asrkit.data.batches import Batch, SkipReport
from asrkit.engine import rng
from asrkit.engine.checkpoint import load_weights, model_payload, model_state, save_atomic
from asrkit.engine.distributed import all_gather_objects, all_reduce_sum
from asrkit.engine.evaluation import SetResult, evaluate
from asrkit.engine.parts import DataPart, ReportPart, StepPart
from asrkit.engine.skips import append_skips
from asrkit.errors import TrainingError
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


def fit(step: StepPart, data: DataPart, report: ReportPart, state: TrainState) -> TrainState:
    """Train from ``state`` to the last epoch."""
    while state.epoch < step.config.epochs:
        train_epoch(step, data, report, state)
        finish_epoch(step, data, report, state)
    return state


def train_epoch(step: StepPart, data: DataPart, report: ReportPart, state: TrainState) -> None:
    """The rest of the current epoch, from ``state.batches_done``."""
    config, sampler = step.config, data.sampler
    sampler.set_epoch(state.epoch)
    sampler.set_position(state.batches_done)
    total = state.batches_done + len(sampler)
    report.progress.start(f"epoch {state.epoch + 1}/{config.epochs}", total=total, completed=state.batches_done)
    step.model.train()
    window_ok, window_sum, window_count = True, 0.0, 0.0
    checkpoint_due = False
    for batch in data.loader:
        state.epoch_skipped += [[path, reason] for path, reason in batch.skipped]
        window_start = state.batches_done - state.batches_done % config.accumulate_grad
        window_size = min(config.accumulate_grad, total - window_start)
        state.batches_done += 1
        window_end = state.batches_done - window_start == window_size
        time_due = step.world.is_main and _minutes_elapsed(report.last_save, config.checkpoint_every_minutes)
        loss_sum, count, nonfinite, empty, due = batch_step(step, batch, window_ok, window_end, window_size, time_due)
        checkpoint_due |= due
        if nonfinite:
            state.nonfinite_total += 1
            state.nonfinite_streak += 1
            check_streak(config, report, state)
        window_ok = window_ok and not (nonfinite or empty)
        window_sum, window_count = window_sum + loss_sum, window_count + count
        info = {"step": state.step, "loss": loss_sum / max(count, 1), "lr": current_lr(step)}
        report.progress.advance(sum(batch.durations), **info)
        if not window_end:
            continue
        stepped = optimizer_step(step, state) if window_ok else None
        if window_ok and stepped is None:
            check_streak(config, report, state)
        if stepped is not None:
            record_step(step, report, state, window_sum, window_count, *stepped)
            if checkpoint_due or _every(config.checkpoint_every_steps, state.step):
                if state.batches_done < total:  # the epoch's end saves anyway, after validation
                    save_last(step, data, report, state)
                checkpoint_due = False
        step.optimizer.zero_grad(set_to_none=True)
        window_ok, window_sum, window_count = True, 0.0, 0.0
    report.progress.finish()


def batch_step(
    step: StepPart, batch: Batch, window_ok: bool, window_end: bool, window_size: int, time_due: bool = False
) -> tuple[float, float, bool, bool, bool]:
    """Forward one batch, agree with the other ranks, backward if all is well.

    ``time_due``: this rank's clock says a checkpoint is due (rank 0's decides).
    Returns the global loss sum and utterance count, whether any rank had a
    non-finite loss or an empty batch, and whether rank 0 wants a checkpoint.
    """
    device, world = step.device, step.world
    # Gradients are all-reduced only on the window's last backward.
    sync = window_end or not world.distributed
    context = contextlib.nullcontext() if sync else step.wrapped.no_sync()
    with context:
        per_utterance = None
        if len(batch):
            batch = batch.to(device, non_blocking=True)
            targets = [step.tokenizer.encode(text) for text in batch.texts]
            with step.precision.autocast():
                per_utterance = step.wrapped(batch.waveforms, batch.lengths, targets).float()
            local_sum = per_utterance.sum().detach()
        else:
            local_sum = torch.zeros((), device=device)
        finite = torch.isfinite(local_sum)
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
            scaler = step.precision.scaler
            (scaler.scale(backward) if scaler is not None else backward).backward()
    return loss_sum, count, nonfinite > 0, empty > 0, due > 0


def optimizer_step(step: StepPart, state: TrainState) -> tuple[float, float] | None:
    """Clip and step; returns the gradient norm and the lr used, or None when the step was skipped.

    A step with inf/nan gradients is skipped and counted like a non-finite
    batch, so ``max_nonfinite`` of them in a row stop the run in fp16 too. In
    fp16 the first steps of a run usually include a few such skips: the
    scaler starts high and halves its scale on each overflow until it fits.
    """
    optimizer, scaler = step.optimizer, step.precision.scaler
    if scaler is not None:
        scaler.unscale_(optimizer)
    max_norm = step.config.grad_clip if step.config.grad_clip is not None else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(step.model.parameters(), max_norm))
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
        # Counted like a non-finite batch; the caller stops the run after max_nonfinite in a row (check_streak).
        state.nonfinite_total += 1
        state.nonfinite_streak += 1
        return None
    lr = current_lr(step)
    step.schedule.step()
    state.step += 1
    state.nonfinite_streak = 0
    return norm, lr


def record_step(
    step: StepPart, report: ReportPart, state: TrainState, loss_sum: float, count: float, grad_norm: float, lr: float
) -> None:
    """Add the step's loss to the epoch and log windows; log every ``log_every_steps`` steps."""
    state.epoch_loss = [state.epoch_loss[0] + loss_sum, state.epoch_loss[1] + count]
    state.log_window = [state.log_window[0] + loss_sum, state.log_window[1] + count]
    if not _every(step.config.log_every_steps, state.step):
        return
    total, utterances = state.log_window
    report.log.metrics(
        {
            "train/loss": total / utterances if utterances else math.nan,
            "train/lr": lr,
            "train/grad_norm": grad_norm,
            "train/audio_seconds_per_second": report.progress.audio_per_second() * step.world.world_size,
            "train/nonfinite_batches": state.nonfinite_total,
        },
        step=state.step,
        epoch=state.epoch + 1,
    )
    state.log_window = [0.0, 0.0]


def check_streak(config: TrainConfig, report: ReportPart, state: TrainState) -> None:
    """Stop the run after ``max_nonfinite`` non-finite losses or gradients in a row."""
    if state.nonfinite_streak < config.max_nonfinite:
        return
    raise TrainingError(
        f"{state.nonfinite_streak} consecutive non-finite losses or gradients "
        f"(epoch {state.epoch + 1}, after step {state.step}); stopping: {_kept_checkpoint(report)} "
        f"(lower train.optimizer.lr, set train.grad_clip, or check the data)"
    )


def finish_epoch(step: StepPart, data: DataPart, report: ReportPart, state: TrainState) -> None:
    """Report skips, validate, choose the best model, save checkpoints."""
    report_skips(data, report, state, step.world.is_main)
    results = validate(step, data, report)
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
    report.log.metrics(metrics, step=state.step, epoch=state.epoch + 1)
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
        save_best(step, report, state)
    save_last(step, data, report, state)


def report_skips(data: DataPart, report: ReportPart, state: TrainState, is_main: bool) -> None:
    """One warning line for the utterances left out of this epoch, and every one of them in ``skipped.jsonl``."""
    skips = SkipReport()
    skips.merge(data.selection)
    for part in all_gather_objects(state.epoch_skipped):
        for path, reason in part:
            skips.add(reason, path)
    if skips.total:
        where = append_skips(report.checkpoint_dir.parent, state.epoch + 1, skips) if is_main else None
        every = f"; every one in {where}" if where is not None else ""
        report.progress.warn(f"epoch {state.epoch + 1}: {skips.summary(per_reason=True)}{every}")


def validate(step: StepPart, data: DataPart, report: ReportPart) -> list[SetResult]:
    """WER/CER of the current model on every validation set, with ``train.valid_decoder``."""
    results = []
    label = report.valid_label
    for valid in data.valid:
        evaluation = evaluate(
            step.model,
            valid.loader,
            {label: report.valid_decoder},
            step.tokenizer,
            label=valid.label,
            device=step.device,
            precision=step.precision,
            progress=report.progress,
        )
        results.append(evaluation.results[label])
    step.model.train()
    return results


def save_best(step: StepPart, report: ReportPart, state: TrainState) -> None:
    check_finite(step, report, state)
    if step.world.is_main:
        save_atomic(_payload(step, report, state), report.checkpoint_dir / BEST)


def save_last(step: StepPart, data: DataPart, report: ReportPart, state: TrainState) -> None:
    """Everything ``--resume`` needs; every rank takes part (their random states are gathered)."""
    check_finite(step, report, state)
    data.sampler.set_epoch(state.epoch)  # the running epoch's batch list is already built: this changes nothing in it
    data.sampler.set_position(state.batches_done)
    states = all_gather_objects(rng.capture(step.device))
    if step.world.is_main:
        payload = _payload(step, report, state)
        payload["training"] = {
            "state": state.as_dict(),
            "optimizer": step.optimizer.state_dict(),
            "schedule": step.schedule.state_dict(),
            "scaler": step.precision.scaler.state_dict() if step.precision.scaler is not None else None,
            "sampler": data.sampler.state_dict(),
            "rng": states,
            "world_size": step.world.world_size,
        }
        save_atomic(payload, report.checkpoint_dir / LAST)
    report.last_save = time.monotonic()


def _payload(step: StepPart, report: ReportPart, state: TrainState) -> dict[str, Any]:
    """The model, recipe and tokenizer at this step, with the validation results of the best epoch so far."""
    payload = model_payload(report.recipe, step.model, step.tokenizer)
    payload["step"] = state.step
    payload["metrics"] = {"best_epoch": state.best_epoch, "valid": state.best_valid}
    return payload


def check_finite(step: StepPart, report: ReportPart, state: TrainState) -> None:
    """Never replace a good checkpoint with a broken model."""
    if all(bool(torch.isfinite(p).all()) for p in step.model.parameters()):
        return
    raise TrainingError(
        f"the model's weights are not finite after step {state.step}; stopping without saving "
        f"({_kept_checkpoint(report)}); lower train.optimizer.lr or set train.grad_clip"
    )


def _kept_checkpoint(report: ReportPart) -> str:
    """What a stopped run leaves to resume from: only say a checkpoint is kept when there is one."""
    last = report.checkpoint_dir / LAST
    return f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved yet"


def restore(step: StepPart, data: DataPart, report: ReportPart, checkpoint: dict[str, Any]) -> TrainState:
    """Load ``last.pt``'s training state into the parts; returns the state to continue from."""
    training = checkpoint["training"]
    load_weights(
        step.model,
        model_state(checkpoint, step.model),
        f"--resume: {report.checkpoint_dir / LAST} does not fit the model",
    )
    step.optimizer.load_state_dict(training["optimizer"])
    step.schedule.load_state_dict(training["schedule"])
    if step.precision.scaler is not None and training.get("scaler") is not None:
        step.precision.scaler.load_state_dict(training["scaler"])
    data.sampler.load_state_dict(training["sampler"])
    rng.restore(training["rng"][step.world.rank], step.device)
    return TrainState.from_dict(training["state"])


def current_lr(step: StepPart) -> float:
    return float(step.optimizer.param_groups[0]["lr"])


def _every(interval: int | None, step: int) -> bool:
    return bool(interval) and step % interval == 0


def _minutes_elapsed(since: float, minutes: float | None) -> bool:
    return minutes is not None and time.monotonic() - since >= minutes * 60
