"""Checking a manifest before training: the problems ``asrkit data check`` reports.

Each utterance is checked for a missing or unreadable audio file, empty audio,
an empty transcript, characters outside the alphabet (after normalization), a
manifest duration that disagrees with the file, and audio too short for its
transcript under CTC: with one output frame every ``frame_seconds``, a
transcript of ``L`` characters with ``R`` adjacent repeats needs ``L + R``
frames.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from asrkit import audio
from asrkit.data.batches import SkipReport
from asrkit.data.manifest import read_manifest
from asrkit.errors import AudioError
from asrkit.interfaces import Utterance

__all__ = ["CHECKS", "DEFAULT_ALPHABET", "CheckOptions", "check_manifest"]

MISSING = "missing file"
UNREADABLE = "unreadable audio"
EMPTY_AUDIO = "empty audio"
EMPTY_TEXT = "empty text"
OUT_OF_ALPHABET = "out-of-alphabet text"
DURATION_MISMATCH = "duration mismatch"
TOO_SHORT = "too short for transcript"
CHECKS = (MISSING, UNREADABLE, EMPTY_AUDIO, EMPTY_TEXT, OUT_OF_ALPHABET, DURATION_MISMATCH, TOO_SHORT)
"""Every check, in the order the summary lists them."""

DEFAULT_ALPHABET = "abcdefghijklmnopqrstuvwxyz' "


@dataclass(frozen=True)
class CheckOptions:
    """How strictly to check."""

    sample_rate: int = 16000
    alphabet: str = DEFAULT_ALPHABET
    frame_seconds: float = 0.02
    tolerance: float = 0.1
    decode: bool = True


def check_manifest(
    path: Path,
    options: CheckOptions,
    normalize: Callable[[str], str] = str.lower,
    advance: Callable[[], None] | None = None,
    utterances: list[Utterance] | None = None,
) -> SkipReport:
    """Every problem of the manifest at ``path``, by check; examples name the file and the detail.

    ``utterances`` are the manifest's (read here when not given); ``advance``
    is called once per utterance checked (for a progress bar).

    Raises:
        DataError: the manifest itself is malformed (file:line in the message).
    """
    utterances = list(read_manifest(path)) if utterances is None else utterances
    report = SkipReport(considered=len(utterances))
    fits: list[tuple[str, int, int, int]] = []
    alphabet = set(options.alphabet)
    for utterance in utterances:
        text = normalize(utterance.text)
        if not text.strip():
            report.add(EMPTY_TEXT, utterance.audio_path)
        elif outside := sorted(set(text) - alphabet):
            report.add(OUT_OF_ALPHABET, f"{utterance.audio_path} {''.join(outside)!r}")
        seconds = _check_audio(utterance, options, report)
        if seconds and text.strip():
            frames = math.floor(seconds / options.frame_seconds + 1e-9)
            repeats = sum(a == b for a, b in itertools.pairwise(text))
            fits.append((utterance.audio_path, frames, len(text), repeats))
        if advance is not None:
            advance()
    if fits:
        from asrkit.ctc import ctc_feasible  # TODO: move to the top once asrkit/ctc.py lands

        frames, labels, repeats = (torch.tensor(column) for column in list(zip(*fits, strict=True))[1:])
        for (where, n, length, repeat), ok in zip(fits, ctc_feasible(frames, labels, repeats).tolist(), strict=True):
            if not ok:
                report.add(TOO_SHORT, f"{where} ({n} frames for {length} labels + {repeat} repeats)")
    return report


def _check_audio(utterance: Utterance, options: CheckOptions, report: SkipReport) -> float | None:
    """Run the audio checks; return the audio's duration in seconds, or None when it cannot be read."""
    path = utterance.audio_path
    if not Path(path).is_file():
        report.add(MISSING, path)
        return None
    try:
        length = audio.audio_duration(path)
        if options.decode:
            segment = utterance.duration if utterance.offset else None
            samples = audio.load_audio(path, options.sample_rate, utterance.offset, segment).numel()
            seconds = samples / options.sample_rate
        else:
            seconds = min(length - utterance.offset, utterance.duration) if utterance.offset else length
    except AudioError as exc:
        report.add(UNREADABLE, f"{path} ({exc.reason})")
        return None
    if seconds <= 0:
        report.add(EMPTY_AUDIO, path)
        return None
    if utterance.offset:
        mismatch = utterance.offset + utterance.duration > length + options.tolerance
        actual = f"runs past the end ({length:.2f} s)"
    else:
        mismatch = abs(utterance.duration - length) > options.tolerance
        actual = f"file has {length:.2f} s"
    if mismatch:
        report.add(DURATION_MISMATCH, f"{path} (manifest says {utterance.duration:.2f} s, {actual})")
    return seconds
