"""The ``greedy`` decoder: CTC best path, batched with tensor operations on the logits' device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from asrkit.interfaces import Decoder, Hypothesis, Tokenizer
from asrkit_plugins.decoders.ctc_words import timed_words, word_spans


@dataclass(frozen=True)
class GreedyPath:
    """The collapsed best paths of a batch, on the CPU.

    Row ``b`` emitted ``tokens[b]``; token ``i`` of it starts at output frame
    ``starts[b][i]`` and its run of frames ends before ``ends[b][i]``.
    ``scores[b]`` is the path's log-probability (sum of the best class's
    log-probability over the row's frames).
    """

    tokens: list[list[int]]
    starts: list[list[int]]
    ends: list[list[int]]
    scores: list[float]


def best_path(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int) -> GreedyPath:
    """``(B, T', V)`` log-probabilities, ``(B,)`` lengths → the collapsed best path of each row.

    Everything but the final split into Python lists runs as tensor operations
    on ``log_probs``' device; frames at or past a row's length are ignored.
    """
    log_probs = log_probs.detach()
    # argmax + gather rather than max(dim): on a busy CPU, max(dim) pays a thread barrier even on tiny inputs.
    best = log_probs.argmax(dim=-1)  # (B, T')
    best_scores = log_probs.gather(-1, best[..., None])[..., 0]
    frames = torch.arange(best.shape[1], device=best.device)
    lengths = lengths.to(best.device)
    valid = frames < lengths[:, None]
    previous = F.pad(best[:, :-1], (1, 0), value=-1)
    following = F.pad(best[:, 1:], (0, 1), value=-1)
    emitted = valid & (best != blank) & (best != previous)
    # A run of one class ends where the class changes or the row does; every
    # frame's run ends at the nearest run end at or after it.
    run_end = (best != following) | (frames == lengths[:, None] - 1)
    last = torch.where(run_end, frames, best.shape[1]).flip(-1).cummin(-1).values.flip(-1)
    rows, cols = emitted.nonzero(as_tuple=True)
    counts = emitted.sum(-1).tolist()
    tokens, starts, ends = best[rows, cols].tolist(), cols.tolist(), (last[rows, cols] + 1).tolist()
    scores = torch.where(valid, best_scores.float(), 0.0).sum(-1).tolist()
    path = GreedyPath([], [], [], scores)
    offset = 0
    for count in counts:
        path.tokens.append(tokens[offset : offset + count])
        path.starts.append(starts[offset : offset + count])
        path.ends.append(ends[offset : offset + count])
        offset += count
    return path


class GreedyDecoder(Decoder):
    """Best-path CTC decoding: the likeliest class per frame, repeats collapsed, blanks dropped.

    Batched on the device of the log-probabilities, with no loop over frames.
    Word timestamps: a word starts at the first frame of its first token and
    ends after the last frame of its last token (a token's frames are the run
    of frames where it is the best class).
    """

    name: ClassVar[str] = "greedy"

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config, tokenizer: Tokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self._labels = tokenizer.labels

    def decode(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        frame_seconds: float | None = None,
    ) -> list[Hypothesis]:
        path = best_path(log_probs, lengths, self.tokenizer.blank_id)
        rows = log_probs.detach().float().cpu().numpy() if frame_seconds is not None else None
        hypotheses = []
        for row, (tokens, starts, ends, score) in enumerate(
            zip(path.tokens, path.starts, path.ends, path.scores, strict=True)
        ):
            text = " ".join(self.tokenizer.decode(tokens).split())
            words = None
            if rows is not None:
                spans = word_spans(self._labels, tokens, starts, ends)
                words = timed_words(spans, frame_seconds, rows[row], self.tokenizer.encode)
            hypotheses.append(Hypothesis(text=text, words=words, score=score))
        return hypotheses
