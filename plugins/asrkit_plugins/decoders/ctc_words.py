"""Words and their times from CTC token frames, shared by the built-in decoders.

Word boundaries come from the tokenizer's labels, in the two conventions
pyctcdecode understands: a space label separates words (character
vocabularies), and a label starting with ``▁`` starts a word (SentencePiece
vocabularies; one also ending with ``▁``, like ``▁⁇▁``, is a word of its own).
A bare ``▁`` is only a boundary, as for pyctcdecode: the word it opens starts
at the next token, so both decoders time words alike.

A word's confidence is the mean, over the word's tokens, of the token's
posterior probability at its most probable frame within the word's frames.
It is the same for both decoders (the beam decoder knows only the word's
frames, not where each of its tokens was emitted), costs one small gather per
word, and is 0 for a token the model never favoured in the word's frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

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


def word_confidence(log_probs: np.ndarray, start: int, end: int, token_ids: Sequence[int]) -> float:
    """Mean over ``token_ids`` of each token's best posterior in frames ``[start, end)`` of ``(T', V)`` log-probs."""
    frames = log_probs[start : max(end, start + 1)]
    if not len(token_ids) or not len(frames):
        return 0.0
    return float(np.exp(frames[:, list(token_ids)].max(axis=0)).mean())


def timed_words(
    spans: Iterable[Span],
    frame_seconds: float,
    log_probs: np.ndarray | None = None,
    encode: Callable[[str], list[int]] | None = None,
) -> tuple[Word, ...]:
    """Spans in frames → :class:`Word` s in seconds, with confidences from one row's ``(T', V)`` log-probs if given."""
    words = []
    for text, start, end in spans:
        confidence = None
        if log_probs is not None and encode is not None:
            confidence = word_confidence(log_probs, start, end, encode(text))
        words.append(Word(text, start * frame_seconds, end * frame_seconds, confidence))
    return tuple(words)
