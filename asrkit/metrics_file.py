"""Metrics as JSON lines: the run directory's ``metrics.jsonl``, and the writer the ``jsonl`` logger reuses.

A line is ``{"step": 1200, "epoch": 3, "time": 1700000000.0, "train/loss": 0.41, ...}``
(``time`` in Unix seconds). Each line is flushed as it is written, so a crash
loses nothing already logged, and a resumed run appends to the same file.
Non-finite values (a diverging loss) are written as ``null`` to keep the file
strict JSON that any reader accepts.

The engine writes ``metrics.jsonl`` itself, whatever loggers a recipe names,
so that tools can rely on it; loggers are for sending the same reports
elsewhere.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
"""The file in every run directory that holds every metrics report."""


def json_number(value: float) -> float | None:
    """``value`` as a plain float (numpy and 0-d tensors included), ``None`` when not finite."""
    number = float(value)
    return number if math.isfinite(number) else None


class MetricsWriter:
    """Appends metrics reports to ``path``, one JSON line each, flushed as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        record: dict[str, Any] = {"step": step, "epoch": epoch, "time": time.time()}
        record.update((name, json_number(value)) for name, value in metrics.items())
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
