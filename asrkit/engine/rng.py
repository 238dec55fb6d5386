"""Seeding and the random state a resumed run must restore.

Randomness in training comes from the global generators of the training
process: torch's CPU generator (weight init, augmenters that draw on the CPU,
e.g. ``speed_perturb``), the CUDA generator of the training device (dropout and
SpecAugment when training on a GPU), Python's ``random`` and NumPy's global
state (third-party augmenters). The sampler's order derives from the seed and
the epoch alone, and DataLoader workers only read audio, so they hold no state
worth saving.

:func:`capture` returns that state as tensors, lists and numbers only, so a
checkpoint holding it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), Python's ``random`` and NumPy."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive the worker's Python and NumPy seeds from its torch seed.

    torch seeds each worker from the loader's generator (which the trainer
    seeds), but not NumPy, whose forked state would be the same in every worker.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def capture(device: torch.device) -> dict[str, Any]:
    """The global random state of this process, ``weights_only``-loadable."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore(state: dict[str, Any], device: torch.device) -> None:
    """Set the global random state to what :func:`capture` returned."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
