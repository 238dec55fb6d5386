"""Cutting long recordings at silences with a voice-activity detector (silero-vad).

Silero VAD (the ``silero-vad`` pip package, which bundles its model, so it
runs offline) gives the probability of speech for every 32 ms window of 16 kHz
audio. We chose it over webrtcvad because it is a neural model trained on
many languages and noise conditions (webrtcvad's GMM fires on music and
noise), its package needs nothing beyond torch (which asrkit has), and its
ONNX model runs at about 60x real time on one busy CPU core. It is an
optional dependency (``pip install asrkit[vad]``).

silero's own ``get_speech_timestamps`` needs the whole waveform in memory, so
the file is streamed here instead: it is read in blocks of ``block_seconds``,
the model (which keeps its recurrent state between calls) scores each window,
and :class:`Segmenter` turns the probabilities into speech segments as they
complete. Memory is one block, whatever the file's length.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from asrkit.audio import audio_duration, load_audio
from asrkit.config import param
from asrkit.errors import PluginError

VAD_SAMPLE_RATE = 16000
WINDOW_SAMPLES = 512
"""silero-vad scores windows of exactly 512 samples at 16 kHz (32 ms)."""
WINDOW_SECONDS = WINDOW_SAMPLES / VAD_SAMPLE_RATE


@dataclass(frozen=True)
class VadConfig:
    """How speech probabilities become segments."""

    threshold: float = param(0.5, help="a window at or above this speech probability is speech")
    min_silence_seconds: float = param(0.3, help="a pause at least this long ends a segment")
    min_speech_seconds: float = param(0.1, help="shorter bursts of speech are dropped")
    speech_pad_seconds: float = param(0.1, help="kept on each side of a segment (never across into another)")
    max_segment_seconds: float = param(30.0, help="a longer stretch of speech is cut at its least speech-like window")


@dataclass(frozen=True)
class Span:
    """Seconds ``[start, end)`` of a recording."""

    start: float
    end: float


class Segmenter:
    """Speech probabilities of consecutive 32 ms windows → speech segments, as they complete.

    A segment starts at the first window at or above ``threshold`` and ends
    where the probability has stayed below ``threshold - 0.15`` (hysteresis,
    as silero's own segmenter does) for ``min_silence_seconds``. Speech
    longer than ``max_segment_seconds`` is cut at the least speech-like
    window of its second half, so a cut falls in a pause between words
    whenever the model saw one.
    """

    def __init__(self, config: VadConfig) -> None:
        self.config = config
        self._window = 0
        self._start: int | None = None  # first window of the segment in progress
        self._silence: int | None = None  # first window of the pause in progress
        self._weakest: tuple[float, int] = (math.inf, 0)  # lowest probability in the segment's second half
        self._last_end = 0.0

    def push(self, probability: float) -> list[Span]:
        """Add the next window's probability; the segments it completes."""
        window, self._window = self._window, self._window + 1
        limit = round(self.config.max_segment_seconds / WINDOW_SECONDS)
        done: list[Span] = []
        if self._start is None:
            if probability >= self.config.threshold:
                self._start, self._silence, self._weakest = window, None, (math.inf, window)
            return done
        if probability >= self.config.threshold:
            self._silence = None
        elif probability < self.config.threshold - 0.15 and self._silence is None:
            self._silence = window
        pause_windows = self.config.min_silence_seconds / WINDOW_SECONDS
        if self._silence is not None and window + 1 - self._silence >= pause_windows:
            done += self._close(self._silence, padded=True)
            return done
        if window - self._start >= limit / 2 and probability < self._weakest[0]:
            self._weakest = (probability, window)
        if window + 1 - self._start >= limit:
            cut = self._weakest[1] if self._weakest[0] < math.inf else window + 1
            done += self._close(cut, padded=False)
            self._start, self._silence, self._weakest = cut, None, (math.inf, cut)
        return done

    @property
    def needed_from(self) -> float:
        """The earliest second a future segment can still start at (audio before it can be dropped)."""
        first = self._window if self._start is None else self._start
        return max(self._last_end, first * WINDOW_SECONDS - self.config.speech_pad_seconds, 0.0)

    def finish(self) -> list[Span]:
        """The segment still open at the end of the recording."""
        if self._start is None:
            return []
        return self._close(self._window if self._silence is None else self._silence, padded=True)

    def _close(self, end_window: int, padded: bool) -> list[Span]:
        start_window, self._start, self._silence = self._start or 0, None, None
        if (end_window - start_window) * WINDOW_SECONDS < self.config.min_speech_seconds:
            return []
        pad = self.config.speech_pad_seconds if padded else 0.0
        start = max(self._last_end, start_window * WINDOW_SECONDS - self.config.speech_pad_seconds)
        end = min(self._window * WINDOW_SECONDS, end_window * WINDOW_SECONDS + pad)
        self._last_end = end
        return [Span(start, end)]


def load_vad_model() -> Callable[[torch.Tensor, int], Any]:
    """silero-vad's bundled ONNX model (about 4x faster on a CPU than its TorchScript one)."""
    try:
        from silero_vad import load_silero_vad
    except ImportError:
        raise PluginError("--segment vad needs the silero-vad package: pip install 'asrkit[vad]'") from None
    with warnings.catch_warnings():  # silero-vad 6 finds its model with a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_silero_vad(onnx=True)


def speech_spans(
    path: str | os.PathLike[str],
    config: VadConfig,
    model: Callable[[torch.Tensor, int], Any] | None = None,
    block_seconds: float = 60.0,
) -> Iterator[Span]:
    """The speech segments of an audio file, in order, reading ``block_seconds`` at a time.

    Raises:
        AudioError: the file cannot be read.
    """
    model = model or load_vad_model()
    model.reset_states()
    segmenter = Segmenter(config)
    duration = audio_duration(path)
    block_windows = max(1, round(block_seconds / WINDOW_SECONDS))
    offset_windows = 0
    silent = False
    with torch.inference_mode():
        while offset_windows * WINDOW_SECONDS < duration:
            wave = load_audio(
                path, VAD_SAMPLE_RATE, offset=offset_windows * WINDOW_SECONDS, duration=block_windows * WINDOW_SECONDS
            )
            usable = wave.shape[0] // WINDOW_SAMPLES * WINDOW_SAMPLES
            if usable == 0:
                break
            for window in wave[:usable].view(-1, WINDOW_SAMPLES):
                # Digital silence is never speech: it skips the model (silent stretches cost nearly nothing),
                # and the model starts afresh after it, as at the start of a recording.
                if window.abs().max() == 0:
                    if not silent:
                        model.reset_states()
                    silent = True
                    yield from segmenter.push(0.0)
                    continue
                silent = False
                yield from segmenter.push(float(model(window, VAD_SAMPLE_RATE)))
            offset_windows += usable // WINDOW_SAMPLES
    yield from segmenter.finish()
