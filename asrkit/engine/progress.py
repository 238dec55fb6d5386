"""What a run shows while it works: rich progress bars, or one line per epoch with ``--quiet``.

Only the main process shows anything; the other ranks get a silent
:class:`Progress`. Loggers print through :attr:`Progress.console`, so their lines
appear above the live bars instead of tearing them.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    """Training and evaluation progress: bars (``bars=True``), epoch lines only, or nothing (``enabled=False``)."""

    def __init__(self, console: Console, *, bars: bool = True, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self._rich: RichProgress | None = None
        if enabled and bars:
            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self._rich.start()
        self._task: TaskID | None = None
        self._started = 0.0
        self._audio = 0.0

    def start(self, description: str, total: int, completed: int = 0) -> None:
        """A new bar (an epoch, or one evaluation set) of ``total`` batches, ``completed`` already done."""
        self._started = time.perf_counter()
        self._audio = 0.0
        if self._rich is not None:
            self._end_task()
            self._task = self._rich.add_task(description, total=total, completed=completed, info="")

    def advance(self, audio_seconds: float = 0.0, **info: float | str) -> None:
        """One batch done; ``info`` (loss, lr...) is shown next to the bar with the audio throughput."""
        self._audio += audio_seconds
        if self._rich is None or self._task is None:
            return
        fields = [f"{name} {_short(value)}" for name, value in info.items()]
        if self._audio:
            fields.append(f"{self.audio_per_second():.0f} audio s/s")
        self._rich.update(self._task, advance=1, info="  ".join(fields))

    def audio_per_second(self) -> float:
        """Seconds of audio processed per wall-clock second since :meth:`start`."""
        elapsed = time.perf_counter() - self._started
        return self._audio / elapsed if elapsed > 0 else 0.0

    def finish(self) -> None:
        """Remove the current bar."""
        self._end_task()

    def print(self, message: str, style: str | None = None) -> None:
        """A line above the bars (shown with ``--quiet`` too)."""
        if self.enabled:
            self.console.print(message, style=style, highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        self.print(f"warning: {message}", style="yellow")

    def close(self) -> None:
        if self._rich is not None:
            self._end_task()
            self._rich.stop()
            self._rich = None

    def _end_task(self) -> None:
        if self._rich is not None and self._task is not None:
            self._rich.remove_task(self._task)
            self._task = None


def _short(value: float | str) -> str:
    if isinstance(value, (str, int)):
        return str(value)
    if value != 0 and abs(value) < 1e-2:
        return f"{value:.2e}"
    return f"{value:.4g}"
