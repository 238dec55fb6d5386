"""The ``jsonl`` logger: every metrics report as one JSON line in a file of the run directory.

The lines are those of the run's own ``metrics.jsonl`` (see
:mod:`asrkit.metrics_file`), which the engine writes whatever loggers a recipe
names: this logger is for a second copy elsewhere. Pointed at the engine's own
file (``filename: metrics.jsonl``, as in recipes written for asrkit 0.1), it
writes nothing, so no line is written twice.

Hyperparameters are not written: the trainer already saves the resolved recipe
in the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from asrkit.config import param
from asrkit.interfaces import Logger, RunInfo
from asrkit.metrics_file import METRICS_FILE, MetricsWriter


class JsonlLogger(Logger):
    """Appends each metrics report as one JSON line to a file in the run directory."""

    name = "jsonl"

    @dataclass(frozen=True)
    class Config:
        filename: str = param(METRICS_FILE, help="file to append to, relative to the run directory")

    def __init__(self, config: Config, run: RunInfo) -> None:
        self.path = run.run_dir / config.filename
        engine_writes_it = run.metrics_file is not None and self.path.resolve() == run.metrics_file.resolve()
        self._writer = None if engine_writes_it else MetricsWriter(self.path)

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        if self._writer is not None:
            self._writer.write(metrics, step=step, epoch=epoch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
