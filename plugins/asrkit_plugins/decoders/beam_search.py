"""pyctcdecode beam search of one utterance, in this process or in a pool worker.

This module imports neither torch nor asrkit, so a spawned worker process
starts in well under a second instead of the several seconds a torch import
takes. A worker builds its own pyctcdecode decoder (and loads the language
model) once, in :func:`init_worker`; under the ``fork`` start method it finds
the parent's decoder already built and shares it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

Result = tuple[str, list[tuple[str, int, int]], float]
"""Text, words as ``(word, first frame, end frame exclusive)``, and the beam's score."""


@dataclass(frozen=True)
class BeamSettings:
    """Everything a process needs to build the decoder and search."""

    labels: tuple[str, ...]
    lm_path: str | None
    unigrams_path: str | None
    alpha: float
    beta: float
    unk_score_offset: float
    beam_width: int
    beam_prune_logp: float
    token_min_logp: float
    hotwords: tuple[str, ...]
    hotword_weight: float
    nbest: int = 1


_BUILT: dict[str, Any] = {}
"""Decoders built in this process, by the key their owner chose (inherited by forked workers)."""

_worker: tuple[BeamSettings, Any] | None = None
_worker_error: str | None = None


def import_pyctcdecode() -> Any:
    logger = logging.getLogger("pyctcdecode")
    level = logger.level
    # Its import warns that kenlm is missing even when no language model is used.
    logger.setLevel(logging.ERROR)
    try:
        import pyctcdecode
    finally:
        logger.setLevel(level)
    return pyctcdecode


def read_unigrams(settings: BeamSettings) -> list[str] | None:
    """The known words: from ``unigrams_path`` (one per line), else from an ARPA LM's 1-grams."""
    if settings.unigrams_path is not None:
        with open(settings.unigrams_path, encoding="utf-8") as lines:
            return [w for line in lines for w in line.split()[:1]]
    if settings.lm_path is not None and is_arpa(settings.lm_path):
        from pyctcdecode.language_model import load_unigram_set_from_arpa

        # The sentence markers and <unk> are not words a transcript can contain.
        return sorted(load_unigram_set_from_arpa(settings.lm_path) - {"<s>", "</s>", "<unk>"})
    return None


def is_arpa(path: str) -> bool:
    """An ARPA text file (whatever its name) rather than a KenLM binary."""
    with open(path, "rb") as head:
        return head.read(64).lstrip().startswith(b"\\data\\")


def build(key: str, settings: BeamSettings) -> Any:
    """The pyctcdecode decoder for ``settings``, built once per process under ``key``."""
    decoder = _BUILT.get(key)
    if decoder is None:
        pyctcdecode = import_pyctcdecode()
        decoder = pyctcdecode.build_ctcdecoder(
            list(settings.labels),
            kenlm_model_path=settings.lm_path,
            unigrams=read_unigrams(settings),
            alpha=settings.alpha,
            beta=settings.beta,
            unk_score_offset=settings.unk_score_offset,
        )
        _BUILT[key] = decoder
    return decoder


def release(key: str) -> None:
    """Forget the decoder built under ``key`` and free its language model."""
    decoder = _BUILT.pop(key, None)
    if decoder is not None:
        decoder.cleanup()


def search(decoder: Any, settings: BeamSettings, log_probs: np.ndarray) -> list[Result]:
    """The ``settings.nbest`` best beams (distinct texts, best first) for one utterance's ``(T', V)`` log-probs."""
    if log_probs.shape[0] == 0:
        return [("", [], 0.0)]
    beams = decoder.decode_beams(
        log_probs,
        beam_width=settings.beam_width,
        beam_prune_logp=settings.beam_prune_logp,
        token_min_logp=settings.token_min_logp,
        hotwords=list(settings.hotwords) or None,
        hotword_weight=settings.hotword_weight,
    )
    results: list[Result] = []
    seen: set[str] = set()
    for text, _lm_state, word_frames, _acoustic_score, score in beams:
        if text in seen:  # beams differing only in their language model state read the same
            continue
        seen.add(text)
        results.append((text, [(word, start, end) for word, (start, end) in word_frames], float(score)))
        if len(results) == settings.nbest:
            break
    return results


def init_worker(key: str, settings: BeamSettings) -> None:
    """Pool initializer: build (or, forked, find) the decoder once per worker."""
    global _worker, _worker_error
    try:
        _worker = (settings, build(key, settings))
    except Exception as exc:  # raising here would make the pool restart workers forever
        _worker_error = f"{type(exc).__name__}: {exc}"


def search_in_worker(log_probs: np.ndarray) -> list[Result]:
    """Pool task: :func:`search` with the worker's decoder."""
    if _worker is None:
        raise RuntimeError(f"beam search worker failed to start: {_worker_error}")
    settings, decoder = _worker
    return search(decoder, settings, log_probs)
