"""Tiny synthetic corpora in LibriSpeech's layout, for tests and benchmarks.

The audio is a quiet tone, encoded as FLAC; the transcripts are whatever the
caller asks for. Files get a modification time an hour in the past by
default, so that the index cache (:mod:`asrkit.data.index`) trusts them at
once instead of treating them as just written.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile

__all__ = ["flac_bytes", "write_librispeech"]


def flac_bytes(seconds: float, sample_rate: int = 16000, frequency: float = 440.0) -> bytes:
    """A mono FLAC file of a tone lasting ``seconds``."""
    count = round(seconds * sample_rate)
    tone = 0.1 * np.sin(2 * math.pi * frequency * np.arange(count) / sample_rate)
    buffer = io.BytesIO()
    soundfile.write(buffer, tone.astype(np.float32), sample_rate, format="FLAC")
    return buffer.getvalue()


def write_librispeech(
    root: Path,
    subset: str,
    transcripts: Mapping[str, str],
    seconds: float | Mapping[str, float] = 0.5,
    sample_rate: int = 16000,
    mtime: float | None = None,
) -> Path:
    """Write ``<root>/LibriSpeech/<subset>`` with one FLAC per utterance id and the transcripts.

    Ids are ``<speaker>-<chapter>-<n>``; ``seconds`` is one duration for all,
    or one per id. ``mtime`` (seconds since the epoch) defaults to an hour ago.
    Returns the subset folder.
    """
    folder = root / "LibriSpeech" / subset
    stamp = time.time() - 3600 if mtime is None else mtime
    encoded: dict[float, bytes] = {}
    chapters: dict[Path, list[str]] = {}
    for utterance_id, text in transcripts.items():
        speaker, chapter, _ = utterance_id.split("-")
        chapter_dir = folder / speaker / chapter
        chapter_dir.mkdir(parents=True, exist_ok=True)
        duration = seconds if isinstance(seconds, (int, float)) else seconds[utterance_id]
        if duration not in encoded:
            encoded[duration] = flac_bytes(duration, sample_rate)
        audio = chapter_dir / f"{utterance_id}.flac"
        audio.write_bytes(encoded[duration])
        os.utime(audio, (stamp, stamp))
        chapters.setdefault(chapter_dir, []).append(f"{utterance_id} {text}")
    for chapter_dir, lines in chapters.items():
        transcript = chapter_dir / f"{chapter_dir.parent.name}-{chapter_dir.name}.trans.txt"
        transcript.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.utime(transcript, (stamp, stamp))
    return folder
