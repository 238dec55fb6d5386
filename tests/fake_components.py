"""Minimal components for testing the core without the built-ins' weight."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from asrkit import hookimpl
from asrkit.config import param
from asrkit.interfaces import Encoder, Tokenizer


class LinearEncoder(Encoder):
    """A per-frame linear layer: the smallest possible acoustic model."""

    name = "linear"

    @dataclass(frozen=True)
    class Config:
        scale: float = param(1.0, help="multiplies the input")
        layers: int = param(1, help="unused; a second int parameter")

    def __init__(self, config: Config, input_dim: int) -> None:
        super().__init__()
        self.config = config
        self.proj = torch.nn.Linear(input_dim, 8)

    @property
    def output_dim(self) -> int:
        return 8

    @property
    def subsampling(self) -> int:
        return 1

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return input_lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.proj(features * self.config.scale), lengths


class LettersTokenizer(Tokenizer):
    """Lowercase letters and space, blank last."""

    name = "letters"

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Config) -> None:
        self.symbols = [" ", *"abcdefghijklmnopqrstuvwxyz"]

    @property
    def num_classes(self) -> int:
        return len(self.symbols) + 1

    @property
    def blank_id(self) -> int:
        return len(self.symbols)

    @property
    def labels(self) -> list[str]:
        return [*self.symbols, ""]

    def normalize(self, text: str) -> str:
        return " ".join("".join(c for c in text.lower() if c in self.symbols).split())

    def encode(self, text: str) -> list[int]:
        return [self.symbols.index(c) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.symbols[i] for i in ids)


class FakePlugin:
    """A plugin object: hook implementations as methods."""

    @hookimpl
    def asrkit_register_encoders(self) -> list[type]:
        return [LinearEncoder]

    @hookimpl
    def asrkit_register_tokenizers(self) -> list[type]:
        return [LettersTokenizer]
