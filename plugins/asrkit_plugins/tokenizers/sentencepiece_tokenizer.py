"""The ``sentencepiece`` tokenizer: word pieces learned from the training transcripts.

The model is trained in-process on the normalized transcripts, cached by content
in the run's cache directory, and carried in ``state_dict()`` as bytes, so a
checkpoint is enough to decode.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch

from asrkit.config import param
from asrkit.errors import AsrkitError, CheckpointError
from asrkit.files import write_atomic
from asrkit.interfaces import Tokenizer
from asrkit.text import DEFAULT_ALPHABET, TextNormalizer

UNK_LABEL = "▁⁇▁"
"""The unknown piece's label: a word of its own, as pyctcdecode spells it (and as SentencePiece decodes it)."""


class SentencePieceTokenizer(Tokenizer):
    """Word pieces (SentencePiece unigram or BPE) learned from the training transcripts, plus the CTC blank.

    Text is normalized exactly as by the ``char`` tokenizer (same rules, same
    ``alphabet``). :meth:`fit` trains a model of at most ``vocab_size`` pieces
    (fewer when the transcripts do not support that many; every alphabet
    character is always a piece, so no normalized text is unknown). Class ids
    are the SentencePiece ids (``<unk>`` is 0) and the blank is the last id,
    ``num_classes - 1``.

    ``labels`` are the pieces with SentencePiece's word-start marker ``▁``, the
    style pyctcdecode recognizes as BPE; ``<unk>`` is written ``▁⁇▁`` and the
    blank ``""``.
    """

    name: ClassVar[str] = "sentencepiece"
    needs_fit: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Config:
        vocab_size: int = param(256, help="most word pieces to learn (the blank is one more class)")
        model_type: Literal["unigram", "bpe"] = param("unigram", help="SentencePiece training algorithm")
        alphabet: str = param(DEFAULT_ALPHABET, help="characters text is normalized to (as for the char tokenizer)")

    def __init__(self, config: Config) -> None:
        if config.vocab_size < 2:
            raise AsrkitError(f"vocab_size: must be at least 2, got {config.vocab_size}")
        self.config = config
        self._normalize = TextNormalizer(config.alphabet)
        self._model: bytes | None = None
        self._sp: Any = None

    def fit(self, texts: Iterable[str], cache_dir: Path) -> None:
        """Train on ``texts`` (normalized here), or load the model an identical earlier fit cached."""
        normalized = [t for t in map(self._normalize, texts) if t]
        if not normalized:
            raise AsrkitError("sentencepiece tokenizer: no non-empty training transcripts to learn pieces from")
        path = Path(cache_dir) / f"sentencepiece-{self._cache_key(normalized)}.model"
        if path.is_file():
            self._load(path.read_bytes())
            return
        model = self._train(normalized)
        write_atomic(path, model)  # a concurrent fit never reads half a model
        self._load(model)

    def _cache_key(self, normalized: list[str]) -> str:
        import sentencepiece

        digest = hashlib.sha256()
        digest.update(json.dumps([asdict(self.config), sentencepiece.__version__], sort_keys=True).encode())
        for text in normalized:
            digest.update(text.encode())
            digest.update(b"\n")
        return digest.hexdigest()[:20]

    def _train(self, normalized: list[str]) -> bytes:
        import sentencepiece

        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(normalized),
                model_writer=model,
                vocab_size=self.config.vocab_size,
                model_type=self.config.model_type,
                hard_vocab_limit=False,  # small corpora get a smaller vocabulary instead of an error
                character_coverage=1.0,
                required_chars=self.config.alphabet.replace(" ", ""),
                normalization_rule_name="identity",  # the text is already normalized our way
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                num_threads=min(8, os.cpu_count() or 1),
                minloglevel=2,
            )
        except RuntimeError as exc:
            raise AsrkitError(f"sentencepiece training failed: {exc}") from None
        return model.getvalue()

    def _load(self, model: bytes) -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_proto=model)
        self._model = model
        pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
        self._labels = [UNK_LABEL if self._sp.is_unknown(i) else p for i, p in enumerate(pieces)] + [""]

    @property
    def processor(self) -> Any:
        """The loaded ``sentencepiece.SentencePieceProcessor``."""
        if self._sp is None:
            raise AsrkitError("sentencepiece tokenizer is not fitted: fit it on transcripts or load a checkpoint")
        return self._sp

    @property
    def num_classes(self) -> int:
        return self.processor.get_piece_size() + 1

    @property
    def blank_id(self) -> int:
        return self.processor.get_piece_size()

    @property
    def labels(self) -> list[str]:
        self.processor  # noqa: B018 (raises when not fitted)
        return list(self._labels)

    def normalize(self, text: str) -> str:
        return self._normalize(text)

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(self._normalize(text))

    def decode(self, ids: Sequence[int]) -> str:
        blank = self.blank_id
        return " ".join(self.processor.decode([int(i) for i in ids if i != blank]).split())

    def state_dict(self) -> dict[str, Any]:
        """``{"model": uint8 tensor}``: the serialized SentencePiece model (bytes do not pass ``weights_only``)."""
        self.processor  # noqa: B018 (raises when not fitted)
        return {"model": torch.frombuffer(bytearray(self._model), dtype=torch.uint8)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = state.get("model")
        if not isinstance(model, torch.Tensor) or model.dtype != torch.uint8:
            raise CheckpointError("sentencepiece tokenizer state has no model (was the tokenizer fitted?)")
        try:
            self._load(model.cpu().numpy().tobytes())
        except (RuntimeError, OSError) as exc:
            raise CheckpointError(f"sentencepiece model in the checkpoint is corrupt: {exc}") from None
