"""Text normalization onto an alphabet, shared by tokenizers, the data checks and test helpers.

Part of the public API for plugins: a tokenizer that wants the built-in
tokenizers' normalization uses :class:`TextNormalizer` (and
:data:`DEFAULT_ALPHABET`) instead of importing another plugin.
"""

from __future__ import annotations

import unicodedata

from asrkit.errors import RecipeError
from asrkit.limits import short_repr

DEFAULT_ALPHABET = "abcdefghijklmnopqrstuvwxyz' "
"""a-z, the apostrophe and the space: what English character models and the data checks use by default."""

# Marks that writers use for the apostrophe (right quote, modifier letter, prime...).
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02b9\u2032`\u00b4")
# Letters without a Unicode decomposition that still have a plain-Latin spelling.
_LETTER_FALLBACKS = {"æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_SEPARATORS = frozenset("/\\")


class TextNormalizer:
    """Maps any text onto an alphabet, so that the result contains only its characters.

    In order:

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

    Normalizing the result again changes nothing.
    """

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
