"""Live audio over a WebSocket: speech segments found by the VAD as the audio arrives, each transcribed once complete.

The client sends 16 kHz mono little-endian 16-bit PCM in binary messages of
any size, and the text message ``end`` when it has no more. The VAD scores
each 32 ms window as it arrives; when a segment completes (a pause, or
``max_segment_seconds`` of speech), its audio is transcribed (through the
server's dynamic batcher) and sent back as JSON. Audio before the earliest
point a future segment can start is dropped, so a connection holds at most
about one segment of audio, however long it stays open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import torch

from asrkit.engine.segment import VAD_SAMPLE_RATE, WINDOW_SAMPLES, Segmenter, Span, VadConfig
from asrkit.interfaces import Hypothesis

Transcribe = Callable[[torch.Tensor], Awaitable[Hypothesis]]
"""A ``(S,)`` 16 kHz waveform → its hypothesis (word times from the waveform's start)."""


class StreamTranscriber:
    """One connection's audio: VAD state, the audio still needed, and the segments to send."""

    def __init__(self, vad_model: Callable[[torch.Tensor, int], Any], config: VadConfig, transcribe: Transcribe):
        self.vad_model = vad_model
        self.vad_model.reset_states()
        self.segmenter = Segmenter(config)
        self.transcribe = transcribe
        self.kept = np.zeros(0, dtype=np.float32)  # audio from second ``kept_from`` on
        self.kept_from = 0.0
        self.scored = 0  # samples of ``kept`` already scored by the VAD

    async def feed(self, pcm: bytes) -> list[dict[str, object]]:
        """Add 16-bit PCM; the JSON of the segments it completed."""
        if len(pcm) % 2:
            raise ValueError("audio messages must hold whole 16-bit samples")
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.kept = np.concatenate([self.kept, samples])
        spans: list[Span] = []
        while len(self.kept) - self.scored >= WINDOW_SAMPLES:
            window = torch.from_numpy(self.kept[self.scored : self.scored + WINDOW_SAMPLES])
            self.scored += WINDOW_SAMPLES
            probability = float(self.vad_model(window, VAD_SAMPLE_RATE)) if window.abs().max() > 0 else 0.0
            spans += self.segmenter.push(probability)
        return await self._send(spans)

    async def finish(self) -> list[dict[str, object]]:
        """The segment still open when the client says ``end``."""
        return await self._send(self.segmenter.finish())

    async def _send(self, spans: list[Span]) -> list[dict[str, object]]:
        messages = []
        for span in spans:
            first = max(0, round((span.start - self.kept_from) * VAD_SAMPLE_RATE))
            last = max(first, round((span.end - self.kept_from) * VAD_SAMPLE_RATE))
            wave = torch.from_numpy(self.kept[first:last].copy())
            hypothesis = await self.transcribe(wave) if wave.numel() and wave.abs().max() > 0 else Hypothesis("")
            messages.append(segment_json(span, hypothesis))
        self._drop_unneeded()
        return messages

    def _drop_unneeded(self) -> None:
        drop = min(round((self.segmenter.needed_from - self.kept_from) * VAD_SAMPLE_RATE), self.scored)
        if drop > 0:
            self.kept = self.kept[drop:]
            self.scored -= drop
            self.kept_from += drop / VAD_SAMPLE_RATE


def segment_json(span: Span, hypothesis: Hypothesis) -> dict[str, object]:
    """A completed segment as sent to the client: times in seconds from the stream's start."""
    words = [
        {
            "word": w.word,
            "start": round(w.start + span.start, 3),
            "end": round(w.end + span.start, 3),
            **({} if w.confidence is None else {"confidence": round(w.confidence, 4)}),
        }
        for w in hypothesis.words or ()
    ]
    record: dict[str, object] = {"start": round(span.start, 3), "end": round(span.end, 3), "text": hypothesis.text}
    if hypothesis.score is not None:
        record["score"] = round(hypothesis.score, 4)
    record["words"] = words
    return record
