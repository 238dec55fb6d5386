"""Built-in tokenizers plugin: registers asrkit's own tokenizers components."""

from __future__ import annotations

from asrkit import hookimpl
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer
from asrkit_plugins.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer


@hookimpl
def asrkit_register_tokenizers() -> list[type]:
    return [CharTokenizer, SentencePieceTokenizer]
