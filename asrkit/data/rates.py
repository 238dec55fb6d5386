"""Audio recorded below the model's sample rate: found from file headers, reported, never refused.

Such audio is upsampled on load and decodes without error, but it has no
content above its own Nyquist frequency (4 kHz for telephone audio at
8 kHz), where a 16 kHz model learned part of what it knows: the error rate
is usually much higher. ``transcribe`` warns once per such file and
``evaluate`` counts them per set, so a surprising WER has a visible cause.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import soundfile

__all__ = ["below_rate", "file_rate", "low_rate_warning"]


def file_rate(path: str | os.PathLike[str]) -> int | None:
    """The sample rate in the file's header; ``None`` when it cannot be read (that is reported elsewhere)."""
    try:
        return int(soundfile.info(os.fspath(path)).samplerate)
    except (RuntimeError, OSError, ValueError):
        return None


def low_rate_warning(path: str | os.PathLike[str], model_rate: int) -> str | None:
    """A one-line warning when ``path`` is recorded below ``model_rate`` Hz, else ``None``."""
    rate = file_rate(path)
    if rate is None or rate >= model_rate:
        return None
    return (
        f"{path} is recorded at {rate} Hz, below the model's {model_rate} Hz: it is upsampled, "
        f"and nothing above {rate // 2} Hz can be recognized; expect more errors"
    )


def below_rate(paths: Iterable[str], model_rate: int) -> tuple[int, str | None]:
    """How many of ``paths`` (each file read once) are recorded below ``model_rate``, and the first one."""
    count, first = 0, None
    for path in dict.fromkeys(paths):
        rate = file_rate(path)
        if rate is not None and rate < model_rate:
            count += 1
            first = first or f"{path} at {rate} Hz"
    return count, first
