"""Clips an augmenter mixes in (noise, room impulse responses): found in a folder or a manifest, held in memory.

A *source* is either a folder, searched recursively for audio files (MUSAN's
layout, ``musan/noise/free-sound/*.wav``, or any other), or a NeMo-style JSON
lines manifest (``audio_filepath`` per line, relative to the manifest's folder),
as NeMo's noise and impulse perturbations take.

The clips are read once, on the first training batch, not when the augmenter
is built: a checkpoint's recipe names the source, and evaluating, exporting or
transcribing that checkpoint on another machine must not need the files.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from asrkit.audio import load_audio
from asrkit.data.manifest import read_manifest
from asrkit.errors import AsrkitError, DataError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3"})
POWER_FLOOR = 1e-10
"""Mean power below which a signal counts as silent (no SNR or level of it is defined)."""


def source_files(source: str) -> list[Path]:
    """The audio files of a folder (recursively, sorted) or of a manifest; :class:`DataError` when there are none."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    elif path.is_file():
        files = [Path(u.audio_path) for u in read_manifest(path)]
    else:
        raise DataError(f"no folder or manifest at {path}")
    if not files:
        raise DataError(f"{path}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in it")
    return files


def load_clips(source: str, sample_rate: int, max_seconds: float, seed: int) -> list[torch.Tensor]:
    """Read clips of ``source`` at ``sample_rate`` in a seeded random order until ``max_seconds`` are held.

    Returns ``(S_i,)`` float32 tensors, none empty or silent.
    """
    files = source_files(source)
    random.Random(seed).shuffle(files)
    clips: list[torch.Tensor] = []
    held = 0
    for file in files:
        try:
            clip = load_audio(file, sample_rate)
        except AsrkitError as exc:
            raise DataError(f"{source}: {exc}") from None
        if clip.numel() and clip.abs().max() > 0:
            clips.append(clip)
            held += clip.numel()
        if held >= max_seconds * sample_rate:
            break
    if not clips:
        raise DataError(f"{source}: every audio file in it is empty or silent")
    return clips
