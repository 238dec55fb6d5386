"""The ``beam`` decoder: pyctcdecode beam search, with an optional KenLM language model and hotwords."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from asrkit.config import param
from asrkit.errors import PluginError, RecipeError
from asrkit.interfaces import Decoder, Hypothesis, Tokenizer
from asrkit_plugins.decoders import beam_search
from asrkit_plugins.decoders.ctc_words import timed_words


class BeamDecoder(Decoder):
    """CTC beam search (pyctcdecode) with optional n-gram LM fusion (KenLM ARPA or binary) and hotwords.

    Works with character and SentencePiece tokenizers alike (pyctcdecode reads
    word boundaries from the labels). ``alpha`` weighs the LM's log-probability
    and ``beta`` rewards each word; both only matter with ``lm_path`` and
    should be tuned on a dev set. Hotwords are normalized by the tokenizer.

    With ``num_processes`` above 1, the utterances of a batch are searched in
    parallel by a process pool, started on the first batch and reused until
    :meth:`close`. Workers are started with ``spawn`` by default: forking a
    process whose torch (or DataLoader) threads are running can deadlock the
    child. Spawned workers import only pyctcdecode (not the parent's main
    script, which would import torch: seconds and hundreds of MB per worker).
    Each worker loads the LM once; with a large LM prefer a KenLM binary
    (memory-mapped, so the workers share it) or ``start_method: fork``
    (children share the parent's copy).
    """

    name: ClassVar[str] = "beam"

    @dataclass(frozen=True)
    class Config:
        beam_width: int = param(100, help="beams kept after each frame")
        beam_prune_logp: float = param(-10.0, help="drop beams this much (natural log) below the best one")
        token_min_logp: float = param(-5.0, help="skip tokens below this log-probability in a frame (except the best)")
        lm_path: str | None = param(None, help="KenLM language model, ARPA text or binary (needs asrkit[lm])")
        alpha: float = param(0.5, help="language model weight")
        beta: float = param(1.5, help="word insertion bonus (with a language model)")
        unk_score_offset: float = param(
            -10.0, help="penalty for words outside the known words (also while one is being spelled)"
        )
        unigrams_path: str | None = param(
            None, help="known words, one per line (default: read from an ARPA LM; a binary LM has none)"
        )
        hotwords: tuple[str, ...] = param((), help="words or phrases to favour")
        hotword_weight: float = param(10.0, help="log-score bonus per hotword match")
        nbest: int = param(1, help="hypotheses kept per utterance (the best one and nbest - 1 alternatives)")
        num_processes: int = param(1, help="parallel worker processes for a batch; 1 or less searches serially")
        start_method: Literal["spawn", "forkserver", "fork"] = param(
            "spawn", help="how worker processes start (fork is faster to start but unsafe beside torch threads)"
        )

    def __init__(self, config: Config, tokenizer: Tokenizer) -> None:
        if config.beam_width < 1:
            raise RecipeError(f"beam_width: must be at least 1, got {config.beam_width}")
        if not 1 <= config.nbest <= config.beam_width:
            raise RecipeError(f"nbest: must be between 1 and beam_width ({config.beam_width}), got {config.nbest}")
        self.config = config
        self.tokenizer = tokenizer
        lm_path = _existing(config.lm_path, "lm_path")
        if lm_path is not None:
            try:
                import kenlm  # noqa: F401
            except ImportError:
                raise PluginError("lm_path needs the kenlm module: install asrkit[lm]") from None
        hotwords = tuple(h for h in map(tokenizer.normalize, config.hotwords) if h)
        self.settings = beam_search.BeamSettings(
            labels=tuple(tokenizer.labels),
            lm_path=lm_path,
            unigrams_path=_existing(config.unigrams_path, "unigrams_path"),
            alpha=config.alpha,
            beta=config.beta,
            unk_score_offset=config.unk_score_offset,
            beam_width=config.beam_width,
            beam_prune_logp=config.beam_prune_logp,
            token_min_logp=config.token_min_logp,
            hotwords=hotwords,
            hotword_weight=config.hotword_weight,
            nbest=config.nbest,
        )
        self._key = uuid.uuid4().hex
        try:
            self._decoder = beam_search.build(self._key, self.settings)
        except (OSError, RuntimeError) as exc:  # kenlm reports a bad file as one of these
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise RecipeError(f"lm_path: cannot load {lm_path}: {reason}") from None
        self._pool: Any = None

    def decode(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        frame_seconds: float | None = None,
    ) -> list[Hypothesis]:
        scores = log_probs.detach().float().cpu().numpy()
        rows = [np.ascontiguousarray(scores[i, :n]) for i, n in enumerate(lengths.tolist())]
        if self.config.num_processes > 1 and len(rows) > 1:
            results = self._get_pool().map(beam_search.search_in_worker, rows, chunksize=1)
        else:
            results = [beam_search.search(self._decoder, self.settings, row) for row in rows]
        return [self._hypothesis(beams, row, frame_seconds) for beams, row in zip(results, rows, strict=True)]

    def _hypothesis(
        self, beams: list[beam_search.Result], log_probs: np.ndarray, frame_seconds: float | None
    ) -> Hypothesis:
        """The best beam, with the others as its alternatives; word confidences from the ``(T', V)`` log-probs."""
        found = [
            Hypothesis(
                text=text,
                words=None
                if frame_seconds is None
                else timed_words(spans, frame_seconds, log_probs, self.tokenizer.encode),
                score=score,
            )
            for text, spans, score in beams
        ]
        return dataclasses.replace(found[0], alternatives=tuple(found[1:]))

    def _get_pool(self) -> Any:
        if self._pool is None:
            context = multiprocessing.get_context(self.config.start_method)
            with _main_script_hidden():
                self._pool = context.Pool(
                    self.config.num_processes,
                    initializer=beam_search.init_worker,
                    initargs=(self._key, self.settings),
                )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        beam_search.release(self._key)


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Keep spawned workers from re-running the parent's ``__main__`` script while they start.

    multiprocessing re-imports it in every spawned child so that functions
    defined there can be unpickled; the workers only run functions of
    :mod:`asrkit_plugins.decoders.beam_search`, so they do not need it. A child whose
    parent main has neither ``__spec__`` nor ``__file__`` leaves main alone.
    """
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


def _existing(path: str | None, key: str) -> str | None:
    if path is None:
        return None
    resolved = Path(os.path.expanduser(path))
    if not resolved.is_file():
        raise RecipeError(f"{key}: file not found: {path}")
    return str(resolved)
