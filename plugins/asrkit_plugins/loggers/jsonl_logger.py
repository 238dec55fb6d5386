"""The ``jsonl`` logger: every metrics report as one JSON line in the run directory.

A line is ``{"step": 1200, "epoch": 3, "time": 1700000000.0, "train/loss": 0.41, ...}``
(``time`` in Unix seconds). Each line is flushed as it is written, so a crash
loses nothing already logged, and a resumed run appends to the same file.
Non-finite values (a diverging loss) are written as ``null`` to keep the file
strict JSON that any reader accepts.

Hyperparameters are not written: the trainer already saves the resolved recipe
in the run directory.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from asrkit.config import param
from asrkit.interfaces import Logger, RunInfo


def json_number(value: float) -> float | None:
    """``value`` as a plain float (numpy and 0-d tensors included), ``None`` when not finite."""
    number = float(value)
    return number if math.isfinite(number) else None


class JsonlLogger(Logger):
    """Appends each metrics report as one JSON line to a file in the run directory."""

    name = "jsonl"

    @dataclass(frozen=True)
    class Config:
        filename: str = param("metrics.jsonl", help="file to append to, relative to the run directory")

    def __init__(self, config: Config, run: RunInfo) -> None:
        self.path = run.run_dir / config.filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        record: dict[str, Any] = {"step": step, "epoch": epoch, "time": time.time()}
        record.update((name, json_number(value)) for name, value in metrics.items())
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
