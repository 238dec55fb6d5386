"""Checking a manifest before training: the problems ``asrkit data check`` reports.

Each utterance is checked for a missing or unreadable audio file, NaN or
infinite samples (only when decoding), empty audio,
an empty transcript, a manifest duration that disagrees with the file, audio
too short for its transcript under CTC (with one output frame every
``frame_seconds``, a transcript of ``L`` characters with ``R`` adjacent
repeats needs ``L + R`` frames), and out-of-alphabet text: letters or digits
that the normalization cannot write in the alphabet and so silently drops
(``1984``, ``中``), which leaves a transcript that no longer says what the
audio says. Punctuation is not reported: dropping it is the normalization's
job.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from asrkit import audio
from asrkit.audio import NonFiniteAudioError
from asrkit.ctc import count_repeats, ctc_feasible
from asrkit.data.batches import SkipReport
from asrkit.data.manifest import read_manifest
from asrkit.errors import AudioError
from asrkit.interfaces import Utterance
from asrkit.text import DEFAULT_ALPHABET

__all__ = ["CHECKS", "DEFAULT_ALPHABET", "CheckOptions", "check_manifest"]

MISSING = "missing file"
UNREADABLE = "unreadable audio"
NON_FINITE = "non-finite samples"
EMPTY_AUDIO = "empty audio"
EMPTY_TEXT = "empty text"
OUT_OF_ALPHABET = "out-of-alphabet text"
DURATION_MISMATCH = "duration mismatch"
TOO_SHORT = "too short for transcript"
CHECKS = (MISSING, UNREADABLE, NON_FINITE, EMPTY_AUDIO, EMPTY_TEXT, OUT_OF_ALPHABET, DURATION_MISMATCH, TOO_SHORT)
"""Every check, in the order the summary lists them."""


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
    lost = _LostCharacters(normalize, alphabet)
    for utterance in utterances:
        text = "".join(c for c in normalize(utterance.text) if c in alphabet)
        if not text.strip():
            report.add(EMPTY_TEXT, utterance.audio_path)
        if dropped := lost(utterance.text):
            report.add(OUT_OF_ALPHABET, f"{utterance.audio_path} {dropped!r}")
        seconds = _check_audio(utterance, options, report)
        if seconds and text.strip():
            frames = math.floor(seconds / options.frame_seconds + 1e-9)
            repeats = count_repeats([ord(c) for c in text])
            fits.append((utterance.audio_path, frames, len(text), repeats))
        if advance is not None:
            advance()
    if fits:
        frames, labels, repeats = (torch.tensor(column) for column in list(zip(*fits, strict=True))[1:])
        for (where, n, length, repeat), ok in zip(fits, ctc_feasible(frames, labels, repeats).tolist(), strict=True):
            if not ok:
                report.add(TOO_SHORT, f"{where} ({n} frames for {length} labels + {repeat} repeats)")
    return report


class _LostCharacters:
    """The letters and digits of a text that ``normalize`` cannot write in ``alphabet``."""

    def __init__(self, normalize: Callable[[str], str], alphabet: set[str]) -> None:
        self._normalize = normalize
        self._alphabet = alphabet
        self._known: dict[str, bool] = {}

    def __call__(self, text: str) -> str:
        return "".join(sorted({c for c in text if self._is_lost(c)}))

    def _is_lost(self, char: str) -> bool:
        lost = self._known.get(char)
        if lost is None:
            speech = unicodedata.category(char)[0] in "LN"
            lost = self._known[char] = speech and not self._alphabet.intersection(self._normalize(char))
        return lost


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
    except NonFiniteAudioError as exc:
        report.add(NON_FINITE, f"{path} ({exc.reason})")
        return None
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
