"""The ``char`` tokenizer: the text normalization every built-in tokenizer shares (:mod:`asrkit.text`) onto an alphabet.

Character CTC: one class per letter of a fixed alphabet (space included, since
words need boundaries) plus the blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from asrkit.config import param
from asrkit.interfaces import Tokenizer
from asrkit.text import DEFAULT_ALPHABET, TextNormalizer

__all__ = ["DEFAULT_ALPHABET", "CharTokenizer", "TextNormalizer"]


class CharTokenizer(Tokenizer):
    """Characters of a fixed alphabet (default a-z, apostrophe, space) plus the CTC blank.

    Class ids follow the alphabet order; the blank is the last id by default
    (id 28 of 29 classes with the default alphabet), or id 0 with
    ``blank: first``. ``labels`` gives each id's character and ``""`` for the
    blank, as pyctcdecode expects.

    Normalization (shared by every built-in tokenizer) is
    :class:`asrkit.text.TextNormalizer`'s: NFKC and case folding, dashes and
    separators to spaces, apostrophe look-alikes to ``'``, accents stripped,
    everything else outside the alphabet removed (numbers are not spelled out).

    The result contains only alphabet characters, and normalizing it again
    changes nothing; :meth:`encode` normalizes first, so it never meets an
    unknown character.
    """

    name: ClassVar[str] = "char"

    @dataclass(frozen=True)
    class Config:
        alphabet: str = param(
            DEFAULT_ALPHABET, help="the characters, in class-id order; lowercase, and must include the space"
        )
        blank: Literal["last", "first"] = param("last", help="where the CTC blank goes: after the alphabet or at id 0")

    def __init__(self, config: Config) -> None:
        self.config = config
        self._normalize = TextNormalizer(config.alphabet)
        offset = 1 if config.blank == "first" else 0
        self._blank = 0 if config.blank == "first" else len(config.alphabet)
        self._ids = {char: i + offset for i, char in enumerate(config.alphabet)}
        self._labels = [""] * (len(config.alphabet) + 1)
        for char, i in self._ids.items():
            self._labels[i] = char

    @property
    def num_classes(self) -> int:
        return len(self._labels)

    @property
    def blank_id(self) -> int:
        return self._blank

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def normalize(self, text: str) -> str:
        return self._normalize(text)

    def encode(self, text: str) -> list[int]:
        return [self._ids[char] for char in self._normalize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._labels[i] for i in ids)
