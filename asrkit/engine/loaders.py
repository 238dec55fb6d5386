"""DataLoaders that only read audio: features and augmentation run later, in batch, on the training device.

Training batches come from a :class:`DurationBatchSampler` sharded over the
ranks (every rank gets the same number of batches). Evaluation batches are a
fixed longest-first plan dealt round-robin to the ranks *without* padding, so
no utterance is scored twice; ranks may then run a different number of
batches, which is fine because evaluation runs the unwrapped model and meets
the other ranks only to add up the counts at the end.

The loaders get their own seeded ``torch.Generator``: creating an iterator
then draws nothing from the global generator, whose state a resumed run must
find exactly as the interrupted one left it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from asrkit.data.batches import Entry, UtteranceDataset, collate_batch
from asrkit.data.sampler import DurationBatchSampler
from asrkit.engine.distributed import World
from asrkit.engine.rng import seed_worker
from asrkit.train_config import BatchConfig


def train_sampler(durations: Sequence[float], config: BatchConfig, seed: int, world: World) -> DurationBatchSampler:
    return DurationBatchSampler(
        durations,
        max_seconds=config.max_seconds,
        max_utterances=config.max_utterances,
        shuffle=config.shuffle,
        seed=seed,
        num_replicas=world.world_size,
        rank=world.rank,
        num_buckets=config.num_buckets,
    )


def train_loader(
    dataset: UtteranceDataset,
    sampler: DurationBatchSampler,
    *,
    num_workers: int,
    device: torch.device,
    seed: int,
) -> DataLoader:
    """The training loader; workers persist across epochs, and follow the sampler's epoch and position."""
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
    )


def eval_batches(
    durations: Sequence[float], max_seconds: float, max_utterances: int | None, world: World
) -> list[list[int]]:
    """This rank's share of a fixed, longest-first batch plan (no batch repeated on any rank)."""
    plan = DurationBatchSampler(durations, max_seconds=max_seconds, max_utterances=max_utterances, shuffle=False)
    return [list(batch) for batch in plan][world.rank :: world.world_size]


def eval_loader(
    entries: Sequence[Entry],
    sample_rate: int,
    config: BatchConfig,
    world: World,
    *,
    num_workers: int,
    device: torch.device,
) -> DataLoader:
    """A loader over this rank's share of ``entries``, in a fixed order."""
    dataset = UtteranceDataset(entries, sample_rate)
    batches = eval_batches(dataset.durations, config.max_seconds, config.max_utterances, world)
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate_batch,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(0),
    )
