"""An example asrkit plugin: the ``random_gain`` waveform augmenter.

The entry point ``example = "asrkit_plugin_example"`` in this package's
``pyproject.toml`` is all asrkit needs to find it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asrkit import hookimpl
from asrkit.config import param
from asrkit.interfaces import Augmenter

ASRKIT_PLUGIN_API = ">=2,<3"
"""The asrkit plugin API versions this plugin is written for (see docs/plugins.md)."""


class RandomGain(Augmenter):
    """Scale each training utterance by a random gain drawn uniformly in decibels."""

    name = "random_gain"
    stage = "waveform"

    @dataclass(frozen=True)
    class Config:
        min_db: float = param(-6.0, help="lowest gain in dB")
        max_db: float = param(6.0, help="highest gain in dB")
        p: float = param(1.0, help="probability of changing an utterance")

    def __init__(self, config: Config, sample_rate: int) -> None:
        super().__init__()
        if config.min_db > config.max_db:
            raise ValueError(f"min_db ({config.min_db}) must not exceed max_db ({config.max_db})")
        self.config = config

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` waveforms and ``(B,)`` lengths → scaled waveforms, same lengths; padding kept."""
        if not self.training:
            return x, lengths
        batch = x.shape[0]
        db = torch.empty(batch, device=x.device).uniform_(self.config.min_db, self.config.max_db)
        apply = torch.rand(batch, device=x.device) < self.config.p
        gain = torch.where(apply, 10.0 ** (db / 20.0), torch.ones_like(db))
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        return torch.where(valid, x * gain[:, None], x), lengths


@hookimpl
def asrkit_register_augmenters() -> list[type[Augmenter]]:
    return [RandomGain]
