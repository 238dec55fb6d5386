"""The ``char`` tokenizer, and the text normalization every built-in tokenizer shares.

Character CTC: one class per letter of a fixed alphabet (space included, since
words need boundaries) plus the blank.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from asrkit.config import param
from asrkit.errors import RecipeError
from asrkit.interfaces import Tokenizer
from asrkit.limits import short_repr

DEFAULT_ALPHABET = "abcdefghijklmnopqrstuvwxyz' "

# Marks that writers use for the apostrophe (right quote, modifier letter, prime...).
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02b9\u2032`\u00b4")
# Letters without a Unicode decomposition that still have a plain-Latin spelling.
_LETTER_FALLBACKS = {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_SEPARATORS = frozenset("/\\")


class TextNormalizer:
    """Maps any text onto an alphabet; see :class:`CharTokenizer` for the rules."""

    def __init__(self, alphabet: str) -> None:
        if " " not in alphabet:
            raise RecipeError("alphabet: must contain the space ' ' (CTC needs word boundaries)")
        if len(set(alphabet)) != len(alphabet):
            raise RecipeError(f"alphabet: {short_repr(alphabet)} has repeated characters")
        for char in alphabet:
            # Normalization must be idempotent, so the alphabet must survive it unchanged.
            if unicodedata.normalize("NFKC", char).casefold() != char:
                raise RecipeError(f"alphabet: {char!r} is not lowercase NFKC (normalized text never contains it)")
        self.alphabet = alphabet
        self._chars = frozenset(alphabet)
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold()
        if not self._chars.issuperset(text):
            text = "".join(map(self._mapped, text))
        # Words made only of apostrophes are quotation marks, not speech.
        return " ".join(w for w in text.split() if w.strip("'"))

    def _mapped(self, char: str) -> str:
        mapped = self._cache.get(char)
        if mapped is None:
            mapped = self._cache[char] = self._map(char)
        return mapped

    def _map(self, char: str) -> str:
        if char in self._chars:
            return char
        if char.isspace() or char in _SEPARATORS or unicodedata.category(char) in ("Pd", "Pc"):
            return " "
        if char in _APOSTROPHES and "'" in self._chars:
            return "'"
        spelled = _LETTER_FALLBACKS.get(char) or unicodedata.normalize("NFKD", char)
        # Base letters stay; accents (combining marks) and everything unknown go.
        return "".join(c for c in spelled if c in self._chars and c != " ")


class CharTokenizer(Tokenizer):
    """Characters of a fixed alphabet (default a-z, apostrophe, space) plus the CTC blank.

    Class ids follow the alphabet order; the blank is the last id by default
    (id 28 of 29 classes with the default alphabet), or id 0 with
    ``blank: first``. ``labels`` gives each id's character and ``""`` for the
    blank, as pyctcdecode expects.

    Normalization (shared by every built-in tokenizer), in order:

    1. Unicode NFKC, then case folding (``ß`` becomes ``ss``).
    2. Characters of the alphabet are kept as they are.
    3. Whitespace, dashes and hyphens (any Unicode dash), underscores and
       slashes become a space: ``well-known`` → ``well known``.
    4. Apostrophe look-alikes (``’ ‘ ʼ ′ ` ´``) become ``'`` if it is in the alphabet.
    5. Any other character is decomposed (NFKD) and only its base letters that
       are in the alphabet are kept: accents are stripped (``é`` → ``e``),
       ``æ œ ø ł ð þ`` are spelled ``ae oe o l d th``. Everything else,
       punctuation, symbols and digits not in the alphabet, is removed
       (``"1,000!"`` → ``""``; numbers are not spelled out).
    6. Words made only of apostrophes are dropped; runs of spaces collapse to
       one and the ends are stripped.

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
