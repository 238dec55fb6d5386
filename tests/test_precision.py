"""Precision: the CPU's fp32 fallback, and the fp16 gradient-scaler path of the trainer, run on the CPU.

Runs never take the scaler path on the CPU (:func:`precision_for` gives fp32
there), but torch has CPU autocast in float16 and ``GradScaler("cpu")``: these
tests build the CUDA setting on the CPU with :func:`mixed_precision` and drive
the trainer's own ``batch_step``, ``optimizer_step``, ``save_last`` and
``restore`` with the tiny recipe's model.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from rich.console import Console

from asrkit.cli import main
from asrkit.data.batches import Batch
from asrkit.engine.checkpoint import load_checkpoint
from asrkit.engine.distributed import World
from asrkit.engine.loggers import MetricsLog
from asrkit.engine.parts import Training, build_training
from asrkit.engine.precision import Precision, fallback_notice, mixed_precision, precision_for
from asrkit.engine.progress import Progress
from asrkit.engine.trainer import LAST, TrainState, batch_step, check_streak, optimizer_step, restore, save_last
from asrkit.errors import TrainingError
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/fixtures/tiny_recipe.yaml"
CPU = torch.device("cpu")
# Forward passes that depend on the weights alone (no SpecAugment, no dropout), one utterance per batch, and
# plain SGD, whose update is -lr × the clipped gradient: fp16 and fp32 updates can then be compared directly.
DETERMINISTIC = [
    "augmenters=[]",
    "encoder.dropout=0.0",
    "data.valid=[]",
    "data.test=[]",
    "loggers=[]",
    "train.batch.max_utterances=1",
    "train.batch.shuffle=false",
    "train.optimizer={name: sgd, lr: 0.1, momentum: 0.0, weight_decay: 0.0}",
    "train.schedule.name=constant",
]


@pytest.fixture
def build_parts(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """``build_parts(precision, *overrides)``: the trainer's parts for the tiny recipe, built as a run builds them."""
    monkeypatch.chdir(ROOT)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def build(precision: Precision, *overrides: str) -> Training:
        registry, world = load_registry(), World()
        recipe = load_recipe(TINY, [*DETERMINISTIC, *overrides], registry)
        run_dir = tmp_path_factory.mktemp("run")
        (run_dir / "checkpoints").mkdir()
        progress = Progress(Console(file=io.StringIO()), enabled=False)
        training = build_training(
            registry, recipe, world=world, device=CPU, run_dir=run_dir, log=MetricsLog([]), progress=progress
        )
        training.step.model.train()
        training.step = dataclasses.replace(training.step, precision=precision)
        return training

    yield build
    torch.set_num_threads(threads)


def fp16(init_scale: float) -> Precision:
    """:func:`mixed_precision`'s fp16 on the CPU, its scaler starting at ``init_scale`` instead of 2^16."""
    return dataclasses.replace(
        mixed_precision("fp16", "cpu"), scaler=torch.amp.GradScaler("cpu", init_scale=init_scale)
    )


def batches(parts: Training, count: int) -> list[Batch]:
    loaded = iter(parts.data.loader)
    return [next(loaded) for _ in range(count)]


def weights(parts: Training) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in parts.step.model.state_dict().items()}


def train_window(parts: Training, state: TrainState, window: list[Batch]) -> tuple[float, float] | None:
    """One optimizer step over ``window``, the way ``train_epoch`` runs it."""
    for index, batch in enumerate(window):
        batch_step(parts.step, batch, True, index == len(window) - 1, len(window))
    stepped = optimizer_step(parts.step, state)
    parts.step.optimizer.zero_grad(set_to_none=True)
    if stepped is None:
        check_streak(parts.step.config, parts.report, state)
    return stepped


def test_the_cpu_trains_in_fp32_and_a_notice_says_so() -> None:
    for asked in ("bf16", "fp16"):
        precision = precision_for(asked, CPU)
        assert (precision.name, precision.scaler) == ("fp32", None)
        notice = fallback_notice(asked, precision)
        assert notice is not None and "\n" not in notice
        assert f"train.precision={asked}" in notice and "cpu in fp32" in notice
    assert fallback_notice("fp32", precision_for("fp32", CPU)) is None


def test_mixed_precision_builds_what_cuda_gets_on_any_device_type() -> None:
    half = mixed_precision("fp16", "cpu")
    assert (half.name, half.device_type) == ("fp16", "cpu")
    assert half.scaler is not None and half.scaler.is_enabled()
    bfloat = mixed_precision("bf16", "cpu")
    assert (bfloat.name, bfloat.scaler) == ("bf16", None)
    for precision, dtype in ((half, torch.float16), (bfloat, torch.bfloat16)):
        with precision.autocast():
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == dtype
    with mixed_precision("fp32", "cpu").autocast():
        assert not torch.is_autocast_enabled("cpu")
    assert fallback_notice("fp16", half) is None


def test_a_normal_fp16_step_updates_the_weights_and_the_scale_grows_as_documented(build_parts) -> None:
    # GradScaler's default first scale, 2^16, overflows the tiny model's first gradients; 2^10 fits them.
    parts = build_parts(fp16(init_scale=2.0**10))
    scaler = parts.step.precision.scaler
    # GradScaler: the scale is multiplied by growth_factor (2) after growth_interval steps without inf/nan.
    scaler.set_growth_interval(2)
    first, second = batches(parts, 2)
    with parts.step.precision.autocast():
        hidden = parts.step.model.encode(first.waveforms, first.lengths).hidden
    assert hidden.dtype == torch.float16  # the forward pass really runs in half precision
    state, before = TrainState(), weights(parts)

    assert train_window(parts, state, [first]) is not None
    assert scaler.get_scale() == 2.0**10
    after = weights(parts)
    assert all(not torch.equal(after[name], before[name]) for name, _ in parts.step.model.named_parameters())
    assert train_window(parts, state, [second]) is not None
    assert scaler.get_scale() == 2.0**11
    assert (state.step, state.nonfinite_total, state.nonfinite_streak) == (2, 0, 0)


def test_an_fp16_overflow_is_skipped_by_the_scaler_and_counted_as_a_non_finite_step(build_parts) -> None:
    # A scale of 2^100 fits float32's loss but overflows every float16 gradient: what a too-high scale does.
    parts = build_parts(fp16(init_scale=2.0**100), "train.max_nonfinite=3")
    state, before = TrainState(), weights(parts)
    window = batches(parts, 1)

    assert train_window(parts, state, window) is None
    assert all(torch.equal(value, before[name]) for name, value in weights(parts).items())
    assert parts.step.precision.scaler.get_scale() == 2.0**99  # backoff_factor 0.5
    assert (state.step, state.nonfinite_total, state.nonfinite_streak) == (0, 1, 1)
    assert train_window(parts, state, window) is None
    # max_nonfinite skipped steps in a row stop the run, as non-finite losses do.
    with pytest.raises(TrainingError, match="3 consecutive non-finite losses or gradients"):
        train_window(parts, state, window)


@pytest.mark.parametrize("precision", [Precision("cpu"), fp16(init_scale=2.0**10)], ids=["fp32", "fp16"])
def test_inf_gradients_skip_the_step_and_are_counted_alike_in_fp32_and_fp16(build_parts, precision: Precision) -> None:
    parts = build_parts(precision)
    state, before = TrainState(), weights(parts)
    [batch] = batches(parts, 1)
    batch_step(parts.step, batch, True, True, 1)
    parameter = next(parts.step.model.parameters())
    parameter.grad.view(-1)[0] = math.inf

    assert optimizer_step(parts.step, state) is None
    assert all(torch.equal(value, before[key]) for key, value in weights(parts).items())
    assert (state.step, state.nonfinite_total, state.nonfinite_streak) == (0, 1, 1)


@pytest.mark.parametrize("window_size", [1, 2])
def test_fp16_gradients_are_unscaled_before_clipping(build_parts, window_size: int) -> None:
    """Clipping must see the true gradient: fp16's clipped update is fp32's, not one 2^16 times smaller."""
    grad_clip = 0.01  # far below the tiny model's gradient norm: every step is clipped
    overrides = ("train.grad_clip=0.01", f"train.accumulate_grad={window_size}")
    single = build_parts(Precision("cpu"), *overrides)
    half = build_parts(fp16(init_scale=2.0**10), *overrides)
    window = batches(single, window_size)
    start = weights(single)
    assert all(torch.equal(value, start[key]) for key, value in weights(half).items())

    norm32, _ = train_window(single, TrainState(), window)
    norm16, _ = train_window(half, TrainState(), window)

    assert norm32 > 10 * grad_clip
    assert norm16 == pytest.approx(norm32, rel=0.02)
    update32, update16 = (
        torch.cat([(end[key] - start[key]).flatten().double() for key in start])
        for end in (weights(single), weights(half))
    )
    lr = single.step.config.optimizer.lr
    assert float(update32.norm()) == pytest.approx(lr * grad_clip, rel=1e-3)
    assert float(update16.norm()) == pytest.approx(lr * grad_clip, rel=1e-2)
    assert float((update16 - update32).norm()) < 0.05 * float(update32.norm())


def test_the_scaler_state_round_trips_through_last_pt_and_resume(build_parts) -> None:
    parts = build_parts(fp16(init_scale=2.0**100))
    state = TrainState()
    window = batches(parts, 3)
    assert train_window(parts, state, window[:1]) is None  # skipped: the scale drops to 2^99
    parts.step.precision.scaler.update(2.0**12)  # as if calibrated down (update() takes a new scale)
    assert train_window(parts, state, window[1:2]) is not None  # the growth tracker counts 1
    saved = parts.step.precision.scaler.state_dict()
    save_last(parts.step, parts.data, parts.report, state)

    checkpoint = load_checkpoint(parts.report.checkpoint_dir / LAST)
    assert checkpoint["training"]["scaler"] == saved
    resumed = build_parts(mixed_precision("fp16", "cpu"))
    resumed_state = restore(resumed.step, resumed.data, resumed.report, checkpoint)
    assert resumed.step.precision.scaler.state_dict() == saved
    assert (resumed_state.step, resumed_state.nonfinite_total) == (state.step, state.nonfinite_total) == (1, 1)

    # The next step is the same in the interrupted run and the resumed one.
    assert train_window(parts, state, window[2:]) is not None
    assert train_window(resumed, resumed_state, window[2:]) is not None
    assert resumed.step.precision.scaler.state_dict() == parts.step.precision.scaler.state_dict()
    assert all(torch.equal(value, weights(parts)[key]) for key, value in weights(resumed).items())


def test_a_run_that_asks_bf16_on_the_cpu_says_in_one_line_that_it_trains_in_fp32(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    arguments = ["run", TINY, "train.precision=bf16", "data.test=[]", "--out", str(tmp_path / "run"), "--quiet"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    notices = [line for line in result.output.splitlines() if "train.precision=bf16" in line]
    assert notices == [f"warning: {fallback_notice('bf16', precision_for('bf16', CPU))}"]
    assert "cpu fp32" in result.output
