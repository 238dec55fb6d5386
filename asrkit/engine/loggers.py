"""The run's loggers, built from the recipe on the main process only, behind one small facade.

Every run directory gets a ``metrics.jsonl``: a recipe without a ``jsonl``
logger writing that file gets one added, so tools (and ``--resume`` checks)
can rely on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from asrkit.build import build
from asrkit.interfaces import Logger, RunInfo
from asrkit.recipe import Recipe, component
from asrkit.registry import Registry

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Sends each report to every logger; empty (does nothing) on ranks other than 0."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = loggers

    def hyperparams(self, params: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_hyperparams(params)

    def metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step, epoch=epoch)

    def artifact(self, path: Path) -> None:
        for logger in self.loggers:
            logger.log_artifact(path)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def open_loggers(
    registry: Registry, recipe: Recipe, run_dir: Path, console: Console, is_main: bool, resumed: bool
) -> MetricsLog:
    """The recipe's loggers (plus the ``metrics.jsonl`` one), or none off the main process.

    ``resumed``: the run continues an interrupted one (``--resume``); loggers see it as ``RunInfo.resumed``.
    """
    if not is_main:
        return MetricsLog([])
    specs = list(recipe.loggers)
    if not any(spec.name == "jsonl" and getattr(spec.config, "filename", None) == METRICS_FILE for spec in specs):
        specs.append(component(registry, "loggers", {"name": "jsonl", "filename": METRICS_FILE}, "loggers"))
    run = RunInfo(
        run_dir=run_dir, recipe=recipe.resolved(), is_main_process=True, extra={"console": console}, resumed=resumed
    )
    built: list[Logger] = []
    try:
        for spec in specs:
            built.append(build(registry, spec, run=run))
    except BaseException:
        MetricsLog(built).close()
        raise
    return MetricsLog(built)
