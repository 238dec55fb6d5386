"""The example plugin passes asrkit's component contract."""

from __future__ import annotations

import asrkit_plugin_example
import torch
from asrkit_plugin_example import RandomGain

from asrkit.testing import check_component, check_plugin


def test_the_plugin_registers_random_gain() -> None:
    assert check_plugin(asrkit_plugin_example).components == {"augmenters": ["random_gain"]}


def test_random_gain_passes_the_contract() -> None:
    check_component("augmenters", RandomGain)


def test_random_gain_stays_within_its_range() -> None:
    augment = RandomGain(RandomGain.Config(min_db=-6.0, max_db=6.0), sample_rate=16000).train()
    x = torch.ones(64, 100)
    out, _ = augment(x, torch.full((64,), 100))
    gains = out[:, 0]
    assert gains.min() >= 10 ** (-6 / 20) - 1e-6 and gains.max() <= 10 ** (6 / 20) + 1e-6
    assert len(set(gains.tolist())) > 1
