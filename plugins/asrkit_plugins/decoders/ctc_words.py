"""Words and their times from CTC token frames, shared by the built-in decoders.

Word boundaries come from the tokenizer's labels, in the two conventions
pyctcdecode understands: a space label separates words (character
vocabularies), and a label starting with ``▁`` starts a word (SentencePiece
vocabularies; one also ending with ``▁``, like ``▁⁇▁``, is a word of its own).
A bare ``▁`` is only a boundary, as for pyctcdecode: the word it opens starts
at the next token, so both decoders time words alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asrkit.interfaces import Word

WORD_START = "▁"

Span = tuple[str, int, int]
"""A word with its first frame and its end frame (exclusive), in output frames."""


def word_spans(labels: Sequence[str], ids: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> list[Span]:
    """Group emitted tokens into words.

    ``ids`` are the emitted tokens (repeats collapsed, no blanks), ``starts[i]``
    the first frame of token ``i`` and ``ends[i]`` one past its last frame. A
    word spans from its first token's start to its last token's end.
    """
    spans: list[Span] = []
    text, start, end = "", -1, -1
    for token, token_start, token_end in zip(ids, starts, ends, strict=True):
        label = labels[token]
        if label == " " or label.startswith(WORD_START):
            if text:
                spans.append((text, start, end))
            text, start = "", -1
            if label in (" ", WORD_START):
                continue
        if start < 0:
            start = token_start
        text += label.strip(WORD_START)
        end = token_end
        if len(label) > 1 and label.endswith(WORD_START):
            spans.append((text, start, end))
            text, start = "", -1
    if text:
        spans.append((text, start, end))
    return spans


def timed_words(spans: Iterable[Span], frame_seconds: float) -> tuple[Word, ...]:
    """Spans in frames → :class:`Word` s in seconds."""
    return tuple(Word(text, start * frame_seconds, end * frame_seconds) for text, start, end in spans)
