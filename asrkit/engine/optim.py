"""The optimizer and its learning-rate schedule, from the recipe's ``train`` section.

The reference setup is AdamW with ``OneCycleLR(max_lr=lr, anneal_strategy="linear")``
over ``epochs × optimizer steps per epoch`` steps. The schedule is stepped once
per optimizer step (not per batch, when gradients are accumulated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from asrkit.train_config import OptimizerConfig, ScheduleConfig


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    params = [p for p in parameters if p.requires_grad]
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def optimizer_steps_per_epoch(batches: int, accumulate: int) -> int:
    """A last, partial accumulation window still makes a step: no batch is wasted."""
    return math.ceil(batches / accumulate)


def build_schedule(optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int) -> LRScheduler:
    """The learning-rate schedule over ``total_steps`` optimizer steps (peak: the optimizer's lr)."""
    total_steps = max(1, total_steps)
    if config.name == "onecycle":
        return OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=total_steps,
            pct_start=config.pct_start,
            anneal_strategy=config.anneal_strategy,
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
            # The reference keeps torch's default: beta1 cycles 0.95 → 0.85 → 0.95 against the lr.
            cycle_momentum=config.cycle_momentum,
        )
    if config.name == "warmup_cosine":
        return LambdaLR(optimizer, warmup_cosine(config.warmup_steps, total_steps))
    return LambdaLR(optimizer, lambda step: 1.0)


class warmup_cosine:
    """lr factor: linear from ``1/(warmup+1)`` to 1 over ``warmup`` steps, then cosine down to 0 at ``total``."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup = warmup
        self.total = total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
