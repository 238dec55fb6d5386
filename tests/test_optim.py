"""The optimizer and learning-rate schedules built from the ``train`` section."""

from __future__ import annotations

import io

import pytest
import torch

from asrkit.engine.optim import build_optimizer, build_schedule, optimizer_steps_per_epoch
from asrkit.train_config import OptimizerConfig, ScheduleConfig


def lrs(schedule_config: ScheduleConfig, total: int, lr: float = 5e-4) -> list[float]:
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(3))], OptimizerConfig(lr=lr))
    schedule = build_schedule(optimizer, schedule_config, total)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def test_onecycle_matches_the_reference_setup() -> None:
    """AdamW + OneCycleLR(max_lr=lr, linear), as the reference tutorial builds it."""
    total, lr = 50, 5e-4
    ours = lrs(ScheduleConfig(), total, lr)
    reference_optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_optimizer, max_lr=lr, steps_per_epoch=10, epochs=5, anneal_strategy="linear"
    )
    expected = []
    for _ in range(total):
        expected.append(reference_optimizer.param_groups[0]["lr"])
        reference_optimizer.step()
        reference.step()
    assert ours == pytest.approx(expected)
    assert max(ours) == pytest.approx(lr, rel=0.05)


def test_warmup_cosine_rises_then_decays_to_zero() -> None:
    seen = lrs(ScheduleConfig(name="warmup_cosine", warmup_steps=5), 20, lr=1.0)
    assert seen[:6] == sorted(seen[:6]) and seen[5] == pytest.approx(1.0)
    assert seen[5:] == sorted(seen[5:], reverse=True) and seen[-1] < 0.05


def test_constant_schedule_keeps_the_lr() -> None:
    assert set(lrs(ScheduleConfig(name="constant"), 7, lr=0.1)) == {0.1}


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_optimizers_and_schedules_survive_a_weights_only_round_trip(name: str) -> None:
    for schedule_name in ("onecycle", "warmup_cosine", "constant"):
        optimizer = build_optimizer([torch.nn.Parameter(torch.ones(3))], OptimizerConfig(name=name))
        schedule = build_schedule(optimizer, ScheduleConfig(name=schedule_name), 10)
        optimizer.param_groups[0]["params"][0].grad = torch.ones(3)
        optimizer.step()
        schedule.step()
        buffer = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
        fresh = build_optimizer([torch.nn.Parameter(torch.ones(3))], OptimizerConfig(name=name))
        fresh_schedule = build_schedule(fresh, ScheduleConfig(name=schedule_name), 10)
        fresh.load_state_dict(state["optimizer"])
        fresh_schedule.load_state_dict(state["schedule"])
        assert fresh.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
        assert fresh_schedule.get_last_lr() == schedule.get_last_lr()


def test_a_partial_accumulation_window_still_steps() -> None:
    assert optimizer_steps_per_epoch(10, 1) == 10
    assert optimizer_steps_per_epoch(10, 4) == 3
