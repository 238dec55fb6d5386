"""Built-in tokenizers plugin: registers asrkit's own tokenizers components."""

from __future__ import annotations

from typing import Any

from asrkit import hookimpl
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer
from asrkit_plugins.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

ASRKIT_PLUGIN_API = ">=2,<3"  # the plugin API versions this plugin is written for


@hookimpl
def asrkit_register_tokenizers() -> list[type]:
    return [CharTokenizer, SentencePieceTokenizer]


@hookimpl
def asrkit_recipe_defaults() -> dict[str, Any]:
    return {"tokenizer": {"name": "char"}}
