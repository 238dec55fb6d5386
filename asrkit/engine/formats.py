"""Writing transcripts as plain text, JSON, SubRip (``.srt``) or WebVTT (``.vtt``) subtitles.

Subtitle cues are built from the words, as subtitle tools expect: a cue
holds at most ``MAX_CUE_CHARS`` characters and ``MAX_CUE_SECONDS`` seconds,
and a pause of ``CUE_BREAK_SECONDS`` between two words starts a new cue (a
segment boundary does too). A cue runs from its first word's start to its
last word's end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from asrkit.engine.transcribe import Transcript
from asrkit.errors import RecipeError
from asrkit.interfaces import Word

Format = Literal["txt", "json", "srt", "vtt"]
FORMATS: tuple[Format, ...] = ("txt", "json", "srt", "vtt")
MAX_CUE_CHARS = 42
MAX_CUE_SECONDS = 7.0
CUE_BREAK_SECONDS = 0.8


def render(transcript: Transcript, format: Format) -> str:
    """The file contents of ``transcript`` in ``format`` (words must have been computed for json, srt, vtt)."""
    if format == "txt":
        return transcript.text + "\n"
    if format == "json":
        return json.dumps(transcript.as_json(timestamps=True), ensure_ascii=False, indent=2) + "\n"
    cues = list(subtitle_cues(transcript))
    if format == "srt":
        blocks = [
            f"{i}\n{_clock(c[0].start, ',')} --> {_clock(c[-1].end, ',')}\n{_line(c)}\n" for i, c in enumerate(cues, 1)
        ]
        return "\n".join(blocks)
    blocks = [f"{_clock(c[0].start, '.')} --> {_clock(c[-1].end, '.')}\n{_line(c)}\n" for c in cues]
    return "\n".join(["WEBVTT\n", *blocks])


def subtitle_cues(transcript: Transcript) -> Iterator[list[Word]]:
    """The words of ``transcript`` grouped into cues, in order."""
    for segment in transcript.segments:
        cue: list[Word] = []
        for word in segment.words:
            if cue and (
                word.start - cue[-1].end >= CUE_BREAK_SECONDS
                or word.end - cue[0].start > MAX_CUE_SECONDS
                or len(_line(cue)) + 1 + len(word.word) > MAX_CUE_CHARS
            ):
                yield cue
                cue = []
            cue.append(word)
        if cue:
            yield cue


def output_paths(inputs: list[str], output_dir: Path, format: Format) -> list[Path]:
    """``DIR/<input stem>.<format>`` for each input; two inputs with the same stem are refused."""
    paths = [output_dir / f"{Path(p).stem}.{format}" for p in inputs]
    seen: dict[Path, str] = {}
    for source, target in zip(inputs, paths, strict=True):
        if target in seen and seen[target] != source:
            raise RecipeError(f"--output-dir: {seen[target]} and {source} would both be written to {target}")
        seen[target] = source
    return paths


def _line(words: list[Word]) -> str:
    return " ".join(w.word for w in words)


def _clock(seconds: float, decimal_mark: str) -> str:
    """``HH:MM:SS,mmm`` (SubRip) or ``HH:MM:SS.mmm`` (WebVTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal_mark}{millis:03d}"
