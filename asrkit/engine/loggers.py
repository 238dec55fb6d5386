"""The run's loggers, built from the recipe on the main process only, behind one small facade.

Every run directory gets a ``metrics.jsonl``, written by the engine itself
(:mod:`asrkit.metrics_file`) whatever loggers the recipe names, so tools (and
``--resume`` checks) can rely on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from asrkit.build import build
from asrkit.interfaces import Logger, RunInfo
from asrkit.metrics_file import METRICS_FILE, MetricsWriter
from asrkit.recipe import Recipe
from asrkit.registry import Registry

__all__ = ["METRICS_FILE", "MetricsLog", "open_loggers"]


class MetricsLog:
    """Sends each report to the run's ``metrics.jsonl`` and every logger; does nothing on ranks other than 0."""

    def __init__(self, loggers: list[Logger], metrics_file: MetricsWriter | None = None) -> None:
        self.loggers = loggers
        self.metrics_file = metrics_file

    def hyperparams(self, params: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_hyperparams(params)

    def metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        if self.metrics_file is not None:
            self.metrics_file.write(metrics, step=step, epoch=epoch)
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step, epoch=epoch)

    def artifact(self, path: Path) -> None:
        for logger in self.loggers:
            logger.log_artifact(path)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        if self.metrics_file is not None:
            self.metrics_file.close()


def open_loggers(
    registry: Registry, recipe: Recipe, run_dir: Path, console: Console, is_main: bool, resumed: bool
) -> MetricsLog:
    """The recipe's loggers and the run's ``metrics.jsonl``, or nothing off the main process.

    ``resumed``: the run continues an interrupted one (``--resume``); loggers see it as ``RunInfo.resumed``.
    """
    if not is_main:
        return MetricsLog([])
    run = RunInfo(
        run_dir=run_dir,
        recipe=recipe.resolved(),
        is_main_process=True,
        extra={"console": console},
        resumed=resumed,
        metrics_file=run_dir / METRICS_FILE,
    )
    built: list[Logger] = []
    try:
        for spec in recipe.loggers:
            built.append(build(registry, spec, run=run))
    except BaseException:
        MetricsLog(built).close()
        raise
    return MetricsLog(built, MetricsWriter(run.metrics_file))
