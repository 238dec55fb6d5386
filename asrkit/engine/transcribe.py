"""Transcribing audio files with a trained model: long files in chunks, many files in batches.

Each file is cut into equal chunks of at most ``chunk_seconds`` (a 70 s file
with 30 s chunks becomes three chunks of 23.3 s), so memory does not grow with
the file and no chunk is a useless sliver. All chunks of all files are packed
into batches of similar duration, at most ``batch_seconds`` of padded audio
each, and read one batch at a time. A file's text is its chunks' texts joined
by a space; word timestamps are shifted by the chunk's offset. A word spoken
across a chunk boundary may come out split in two.

A file that cannot be read gives an error entry; the other files are still
transcribed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from asrkit.audio import audio_duration, load_audio
from asrkit.data.sampler import DurationBatchSampler
from asrkit.errors import AudioError
from asrkit.interfaces import Decoder, Word
from asrkit.model import AcousticModel


@dataclass(frozen=True)
class Chunk:
    """Seconds ``[offset, offset + duration)`` of input file number ``file``."""

    file: int
    offset: float
    duration: float


@dataclass
class Transcript:
    """The result for one input file: its text (and words), or why it failed."""

    path: str
    duration: float = 0.0
    texts: list[str] = field(default_factory=list)
    words: list[Word] | None = None
    error: str | None = None

    @property
    def text(self) -> str:
        return " ".join(t for t in self.texts if t)

    def as_json(self, timestamps: bool) -> dict[str, object]:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        record: dict[str, object] = {"path": self.path, "text": self.text, "duration": round(self.duration, 3)}
        if timestamps:
            record["words"] = [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words or ()
            ]
        return record


def plan_chunks(paths: Sequence[str], chunk_seconds: float) -> tuple[list[Transcript], list[Chunk]]:
    """One :class:`Transcript` per path (with an error when its header is unreadable) and the chunks to decode."""
    transcripts, chunks = [], []
    for index, path in enumerate(paths):
        transcript = Transcript(path)
        transcripts.append(transcript)
        try:
            transcript.duration = audio_duration(path)
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
) -> list[Transcript]:
    """Transcribe ``paths`` in input order."""
    transcripts, chunks = plan_chunks(paths, chunk_seconds)
    pieces: dict[Chunk, tuple[str, tuple[Word, ...]]] = {}
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
                if wave.numel():  # an empty file has nothing to say
                    loaded.append((chunk, wave))
            pieces.update(_decode(model, decoder, loaded, device, timestamps))
    for chunk in chunks:
        transcript = transcripts[chunk.file]
        if transcript.error is not None or chunk not in pieces:
            continue
        text, words = pieces[chunk]
        transcript.texts.append(text)
        if timestamps:
            shifted = [Word(w.word, w.start + chunk.offset, w.end + chunk.offset) for w in words]
            transcript.words = (transcript.words or []) + shifted
    for transcript in transcripts:
        if timestamps and transcript.error is None and transcript.words is None:
            transcript.words = []
    return transcripts


def _decode(
    model: AcousticModel,
    decoder: Decoder,
    loaded: list[tuple[Chunk, torch.Tensor]],
    device: torch.device,
    timestamps: bool,
) -> dict[Chunk, tuple[str, tuple[Word, ...]]]:
    """Texts and words of one batch of chunks with their ``(S,)`` waveforms."""
    if not loaded:
        return {}
    lengths = torch.tensor([wave.shape[0] for _, wave in loaded])
    padded = torch.zeros(len(loaded), int(lengths.max()))
    for row, (_, wave) in enumerate(loaded):
        padded[row, : wave.shape[0]] = wave
    log_probs, frames = model.log_probs(padded.to(device), lengths.to(device))
    log_probs = log_probs.float().cpu()
    hypotheses = decoder.decode(log_probs, frames.cpu(), model.frame_seconds if timestamps else None)
    return {chunk: (hyp.text, hyp.words or ()) for (chunk, _), hyp in zip(loaded, hypotheses, strict=True)}
