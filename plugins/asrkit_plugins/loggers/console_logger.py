"""The ``console`` logger: one short line of metrics per report, printed with rich.

It prints through the trainer's rich ``Console`` when the trainer passes one in
``RunInfo.extra["console"]``, so its lines appear above a live progress bar
instead of tearing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from asrkit.config import param
from asrkit.interfaces import Logger, RunInfo

ERROR_RATES = ("wer", "cer")
"""Metric leaves that are error rates: fractions, shown as percentages."""


def format_value(name: str, value: float) -> str:
    """``value`` of metric ``name`` (e.g. ``valid/dev/wer``) as a short string.

    Error rates are fractions (jiwer's convention) and shown as ``12.34%``;
    losses get 4 decimals, learning rates and other tiny numbers scientific
    notation, whole numbers no decimals.
    """
    leaf = name.rsplit("/", 1)[-1]
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if leaf in ERROR_RATES:
        return f"{100 * value:.2f}%"
    if "loss" in leaf:
        return f"{value:.4f}"
    if leaf == "lr" or (value != 0 and abs(value) < 1e-3):
        return f"{value:.2e}"
    if value.is_integer():
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def format_line(metrics: dict[str, float], step: int, epoch: int | None) -> Text:
    """``epoch 3 step 1200  valid/dev/wer 12.34%  train/loss 0.1234``."""
    line = Text()
    if epoch is not None:
        line.append(f"epoch {epoch} ", style="bold")
    line.append(f"step {step}", style="dim")
    for name, value in metrics.items():
        line.append("  ")
        line.append(name, style="cyan")
        line.append(f" {format_value(name, value)}")
    return line


class ConsoleLogger(Logger):
    """Prints epoch and validation metrics to the terminal, one line per report."""

    name = "console"

    @dataclass(frozen=True)
    class Config:
        every_step: bool = param(False, help="also print reports that hold only per-step training metrics (train/...)")
        quiet: bool = param(False, help="print nothing")

    def __init__(self, config: Config, run: RunInfo) -> None:
        self.config = config
        console = run.extra.get("console")
        self.console: Console = console if console is not None else Console(highlight=False)

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        if self.config.quiet or not metrics:
            return
        if not self.config.every_step and all(name.startswith("train/") for name in metrics):
            return
        self.console.print(format_line(metrics, step, epoch), soft_wrap=True)
