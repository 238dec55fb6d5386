"""Rank and world helpers: the same code runs as one process or as N ranks under torchrun.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the
world is one process and every helper here is a no-op, so the trainer never
branches on "distributed or not" except where the work really differs.

A failure on one rank must stop every rank, never leave them waiting in a
collective: the failing rank exits non-zero (torchrun then stops the others),
and the process group has a timeout as a backstop.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

COLLECTIVE_TIMEOUT = timedelta(minutes=30)
"""How long a rank waits in a collective before failing (preparing a large dataset on rank 0 fits in it)."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and results."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world_from_env() -> World:
    """The world torchrun describes in the environment, or a single process."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        size = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return World()
    return World(rank, size, local)


def init_process_group(world: World, device: torch.device) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA) when there is more than one rank."""
    if not world.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        dist.init_process_group("nccl", timeout=COLLECTIVE_TIMEOUT, device_id=device)
    else:
        dist.init_process_group("gloo", timeout=COLLECTIVE_TIMEOUT)


def shutdown() -> None:
    """Leave the process group after a successful run (a failing rank just exits)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum ``values`` over the ranks, in place; returns it."""
    if dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather_objects(value: T) -> list[T]:
    """Every rank's ``value``, in rank order (picklable objects)."""
    if not dist.is_initialized():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: T) -> T:
    """Rank 0's ``value`` on every rank."""
    if not dist.is_initialized():
        return value
    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Run the block on rank 0 first, then on the others.

    For work that fills a shared cache (downloading a corpus, indexing it,
    fitting a tokenizer): the other ranks then find it done and only read it.
    """
    if not world.is_main:
        barrier()
    yield
    if world.is_main:
        barrier()


def torchrun_command(nproc: int, asrkit_args: list[str]) -> list[str]:
    """The command that runs ``asrkit <asrkit_args>`` on ``nproc`` local ranks with torchrun."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "asrkit",
        *asrkit_args,
    ]
