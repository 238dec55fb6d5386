"""Transcribing audio files with a trained model: long files in chunks, many files in batches.

With ``segment="fixed"`` each file is cut into equal chunks of at most
``chunk_seconds`` (a 70 s file with 30 s chunks becomes three chunks of
23.3 s), so memory does not grow with the file and no chunk is a useless
sliver; a word spoken across a chunk boundary may come out split in two.
With ``segment="vad"`` the chunks are the speech segments found by a
voice-activity detector (:mod:`asrkit.engine.segment`), cut only at silences
and at most ``chunk_seconds`` long; silence is not decoded at all. All chunks of all files are packed
into batches of similar duration, at most ``batch_seconds`` of padded audio
each, and read one batch at a time. A file's text is its chunks' texts joined
by a space; word timestamps are shifted by the chunk's offset. A word spoken
across a chunk boundary may come out split in two.

A file that cannot be read gives an error entry; the other files are still
transcribed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from asrkit.audio import audio_duration, load_audio
from asrkit.data.sampler import DurationBatchSampler
from asrkit.engine.segment import VadConfig, load_vad_model, speech_spans
from asrkit.errors import AudioError
from asrkit.interfaces import Decoder, Hypothesis, Word
from asrkit.model import AcousticModel

SegmentMode = Literal["fixed", "vad"]


@dataclass(frozen=True)
class Chunk:
    """Seconds ``[offset, offset + duration)`` of input file number ``file``."""

    file: int
    offset: float
    duration: float


@dataclass(frozen=True)
class Segment:
    """One decoded chunk of a file: seconds ``[start, end)``, its text, score, words (file times) and n-best."""

    start: float
    end: float
    text: str
    score: float | None = None
    words: tuple[Word, ...] = ()
    alternatives: tuple[Hypothesis, ...] = ()


@dataclass
class Transcript:
    """The result for one input file: its segments (text, words), or why it failed."""

    path: str
    duration: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    words: list[Word] | None = None
    error: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def score(self) -> float | None:
        """The sum of the segments' log scores (``None`` when the decoder gives none)."""
        scores = [s.score for s in self.segments]
        return None if None in scores else float(sum(s for s in scores if s is not None))

    @property
    def confidence(self) -> float | None:
        """The mean confidence of the words (``None`` without word confidences)."""
        found = [w.confidence for w in self.words or () if w.confidence is not None]
        return sum(found) / len(found) if found else None

    def as_json(self, timestamps: bool) -> dict[str, object]:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        record: dict[str, object] = {"path": self.path, "text": self.text, "duration": round(self.duration, 3)}
        if self.score is not None:
            record["score"] = round(self.score, 4)
        if timestamps:
            if self.confidence is not None:
                record["confidence"] = round(self.confidence, 4)
            record["words"] = [_word_json(w) for w in self.words or ()]
            record["segments"] = [_segment_json(s) for s in self.segments]
        return record


def _word_json(word: Word) -> dict[str, object]:
    record: dict[str, object] = {"word": word.word, "start": round(word.start, 3), "end": round(word.end, 3)}
    if word.confidence is not None:
        record["confidence"] = round(word.confidence, 4)
    return record


def _segment_json(segment: Segment) -> dict[str, object]:
    record: dict[str, object] = {"start": round(segment.start, 3), "end": round(segment.end, 3), "text": segment.text}
    if segment.score is not None:
        record["score"] = round(segment.score, 4)
    if segment.alternatives:
        record["nbest"] = [
            {"text": h.text, "score": None if h.score is None else round(h.score, 4)}
            for h in ((Hypothesis(segment.text, score=segment.score)), *segment.alternatives)
        ]
    return record


def plan_chunks(
    paths: Sequence[str],
    chunk_seconds: float,
    segment: SegmentMode = "fixed",
    vad: VadConfig | None = None,
    vad_model: Callable[[torch.Tensor, int], Any] | None = None,
) -> tuple[list[Transcript], list[Chunk]]:
    """One :class:`Transcript` per path (with an error when it is unreadable) and the chunks to decode.

    ``vad_model`` (for ``segment="vad"``): a silero-vad model to reuse, else one is loaded.
    """
    transcripts, chunks = [], []
    if segment == "vad" and vad_model is None:
        vad_model = load_vad_model()
    if segment != "vad":
        vad_model = None
    vad = vad or VadConfig(max_segment_seconds=chunk_seconds)
    for index, path in enumerate(paths):
        transcript = Transcript(path)
        transcripts.append(transcript)
        try:
            transcript.duration = audio_duration(path)
            if vad_model is not None:
                chunks += [Chunk(index, s.start, s.end - s.start) for s in speech_spans(path, vad, vad_model)]
                continue
        except AudioError as exc:
            transcript.error = str(exc)
            continue
        count = max(1, math.ceil(transcript.duration / chunk_seconds - 1e-9))
        length = transcript.duration / count
        chunks += [Chunk(index, i * length, length) for i in range(count)]
    return transcripts, chunks


def transcribe(
    model: AcousticModel,
    decoder: Decoder,
    paths: Sequence[str],
    *,
    sample_rate: int,
    device: torch.device,
    chunk_seconds: float = 30.0,
    batch_seconds: float = 300.0,
    timestamps: bool = False,
    segment: SegmentMode = "fixed",
) -> list[Transcript]:
    """Transcribe ``paths`` in input order."""
    transcripts, chunks = plan_chunks(paths, chunk_seconds, segment)
    pieces: dict[Chunk, Hypothesis] = {}
    plan = (
        DurationBatchSampler([c.duration for c in chunks], max_seconds=batch_seconds, shuffle=False) if chunks else []
    )
    model.eval()
    with torch.inference_mode():
        for indices in plan:
            loaded = []
            for chunk in (chunks[i] for i in indices):
                if transcripts[chunk.file].error is not None:
                    continue
                try:
                    wave = load_audio(paths[chunk.file], sample_rate, offset=chunk.offset, duration=chunk.duration)
                except AudioError as exc:
                    transcripts[chunk.file].error = str(exc)
                    continue
                if has_sound(wave):
                    loaded.append((chunk, wave))
            hypotheses = decode_waves(model, decoder, [wave for _, wave in loaded], device, timestamps)
            pieces.update(zip((chunk for chunk, _ in loaded), hypotheses, strict=True))
    collect(transcripts, chunks, pieces, timestamps)
    return transcripts


def has_sound(wave: torch.Tensor) -> bool:
    """False for an empty waveform or digital silence (all zeros), which have nothing to say."""
    return bool(wave.numel()) and bool(wave.abs().max() > 0)


def collect(
    transcripts: list[Transcript], chunks: Sequence[Chunk], pieces: dict[Chunk, Hypothesis], timestamps: bool
) -> None:
    """Add each decoded chunk to its file's transcript as a segment, its word times shifted to the file's."""
    for chunk in chunks:
        transcript = transcripts[chunk.file]
        if transcript.error is not None or chunk not in pieces:
            continue
        hypothesis = pieces[chunk]
        shifted = tuple(
            Word(w.word, w.start + chunk.offset, w.end + chunk.offset, w.confidence) for w in hypothesis.words or ()
        )
        transcript.segments.append(
            Segment(
                chunk.offset,
                chunk.offset + chunk.duration,
                hypothesis.text,
                hypothesis.score,
                shifted,
                hypothesis.alternatives,
            )
        )
        if timestamps:
            transcript.words = (transcript.words or []) + list(shifted)
    for transcript in transcripts:
        if timestamps and transcript.error is None and transcript.words is None:
            transcript.words = []


def decode_waves(
    model: AcousticModel,
    decoder: Decoder,
    waves: Sequence[torch.Tensor],
    device: torch.device,
    timestamps: bool,
) -> list[Hypothesis]:
    """One hypothesis per ``(S,)`` waveform, decoded as one padded batch (the model in eval mode)."""
    if not waves:
        return []
    lengths = torch.tensor([wave.shape[0] for wave in waves])
    padded = torch.zeros(len(waves), int(lengths.max()))
    for row, wave in enumerate(waves):
        padded[row, : wave.shape[0]] = wave
    with torch.inference_mode():
        log_probs, frames = model.log_probs(padded.to(device), lengths.to(device))
    return decoder.decode(log_probs.float().cpu(), frames.cpu(), model.frame_seconds if timestamps else None)
