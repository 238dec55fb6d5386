"""Batches of utterances of similar duration, bounded by padded seconds.

A CTC batch is padded to its longest utterance, so what bounds GPU memory is
``len(batch) * max(duration in batch)``, not the number of utterances.
:class:`DurationBatchSampler` keeps that padded cost under ``max_seconds``
and keeps padding small by batching utterances of similar length:

* training (``shuffle=True``): the utterances are split into quantile buckets
  of equal count (merged on small datasets, see ``num_buckets``); each epoch
  shuffles the members of every bucket, cuts them
  into batches of the bucket's fixed size ``floor(max_seconds / longest in
  bucket)``, then shuffles the order of all batches. The batch *count* is
  therefore the same every epoch, which makes ``len()`` free.
* evaluation (``shuffle=False``): one fixed order, longest batches first, so
  that an out-of-memory error shows up on the first batch, not the last.

An utterance longer than ``max_seconds`` cannot be batched within the bound;
it forms a batch of one rather than being dropped (the dataset layer decides
what is too long to train on).

Distributed training: every rank builds the same epoch-wide batch list from
``seed`` and the epoch, pads it by repeating batches from its start until its
length divides by ``num_replicas`` (as ``DistributedSampler`` does: no
utterance is dropped, and every rank runs the same number of steps so
collective operations never wait on a rank that has finished), and takes every
``num_replicas``-th batch starting at ``rank``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Sampler

from asrkit.errors import CheckpointError

__all__ = ["DurationBatchSampler", "padding_fraction"]

# Fewest full batches a bucket must hold before it stands alone (see _plan_buckets).
_MIN_BATCHES_PER_BUCKET = 4


@dataclass(frozen=True)
class _Bucket:
    """Utterances of similar duration, batched ``batch_size`` at a time."""

    indices: tuple[int, ...]
    batch_size: int


class DurationBatchSampler(Sampler[list[int]]):
    """Yield lists of utterance indices whose padded duration fits ``max_seconds``.

    Args:
        durations: duration in seconds of each utterance; index ``i`` of a
            batch refers to ``durations[i]``.
        max_seconds: bound on ``len(batch) * max(durations in batch)``.
        max_utterances: optional bound on ``len(batch)``.
        shuffle: a new bucketed random order each epoch; ``False`` gives a
            fixed length-sorted order for evaluation.
        seed: with the epoch, determines the order; the same on every rank.
        num_replicas: number of distributed ranks sharing the data.
        rank: this process's rank, in ``range(num_replicas)``.
        num_buckets: most quantile buckets for ``shuffle=True``; more buckets
            mean less padding and less randomness. Neighbouring buckets are
            merged until each holds at least four full batches, so a small
            dataset is not cut into buckets smaller than a batch.

    Resuming mid-epoch: the training loop calls :meth:`set_position` with the
    number of batches it has *trained on* before saving :meth:`state_dict`.
    The sampler cannot count this itself: a DataLoader with workers pulls
    batches from the sampler ahead of the loop (``prefetch_factor`` per
    worker), so the number of batches drawn from ``__iter__`` overstates the
    number consumed, and resuming from it would skip utterances.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        max_utterances: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        num_buckets: int = 30,
    ) -> None:
        super().__init__()
        _check_arguments(durations, max_seconds, max_utterances, num_replicas, rank, num_buckets)
        self._durations = [float(d) for d in durations]
        self._max_seconds = float(max_seconds)
        self._max_utterances = max_utterances
        self._shuffle = shuffle
        self._seed = seed
        self._num_replicas = num_replicas
        self._rank = rank
        self._num_buckets = num_buckets
        self._epoch = 0
        self._position = 0

        # The plan is fixed for the sampler's life; only the order changes.
        if shuffle:
            self._overlong, self._buckets = self._plan_buckets()
            total = len(self._overlong) + sum(math.ceil(len(b.indices) / b.batch_size) for b in self._buckets)
        else:
            self._sorted_batches = self._pack_sorted()
            total = len(self._sorted_batches)
        self._batches_per_rank = math.ceil(total / num_replicas)

    # -- epoch and position ---------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: a new order (when shuffling), from its first batch."""
        self._epoch = epoch
        self._position = 0

    def set_position(self, batches_consumed: int) -> None:
        """Record that this many batches of the current epoch have been trained on.

        The next ``iter()`` starts after them; ``set_epoch`` resets it to 0.
        """
        if not 0 <= batches_consumed <= self._batches_per_rank:
            raise ValueError(f"batches_consumed must be in [0, {self._batches_per_rank}], got {batches_consumed}")
        self._position = batches_consumed

    def state_dict(self) -> dict[str, Any]:
        """Epoch and position, plus the settings a resume must not change.

        Every rank is at the same position (they step together), so the state
        saved by one rank resumes all of them.
        """
        return {
            "epoch": self._epoch,
            "batches_consumed": self._position,
            "config": self._config(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the first not yet consumed.

        Raises:
            CheckpointError: the state was saved with different data or settings
                (another world size, seed, ...), so its batch order is not ours.
        """
        saved = state.get("config", {})
        for key, value in self._config().items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"sampler state has {key}={saved.get(key)!r} but this run has "
                    f"{key}={value!r}; resume with the same data and batching settings"
                )
        self._epoch = state["epoch"]
        self.set_position(state["batches_consumed"])

    def _config(self) -> dict[str, Any]:
        return {
            "num_utterances": len(self._durations),
            "max_seconds": self._max_seconds,
            "max_utterances": self._max_utterances,
            "shuffle": self._shuffle,
            "seed": self._seed,
            "num_replicas": self._num_replicas,
            "num_buckets": self._num_buckets,
        }

    # -- iteration ------------------------------------------------------------

    def __len__(self) -> int:
        """Number of batches the next ``iter()`` yields on this rank."""
        return self._batches_per_rank - self._position

    def __iter__(self) -> Iterator[list[int]]:
        # Built eagerly, so a later set_position does not change a running iterator.
        return iter(self._rank_batches()[self._position :])

    def _rank_batches(self) -> list[list[int]]:
        """This rank's share of the epoch's batch list, padded to equal length."""
        batches = self._epoch_batches()
        wanted = self._batches_per_rank * self._num_replicas
        while batches and len(batches) < wanted:
            batches += batches[: wanted - len(batches)]
        return batches[self._rank :: self._num_replicas]

    def _epoch_batches(self) -> list[list[int]]:
        """All ranks' batches for the current epoch, in order; identical on every rank."""
        if not self._shuffle:
            return [list(batch) for batch in self._sorted_batches]
        # A string seed is hashed with SHA-512: stable across processes, and
        # (seed, epoch) pairs never collide as seed + epoch would.
        rng = random.Random(f"asrkit-sampler/{self._seed}/{self._epoch}")
        batches = [[index] for index in self._overlong]
        for bucket in self._buckets:
            members = list(bucket.indices)
            rng.shuffle(members)
            size = bucket.batch_size
            batches += [members[i : i + size] for i in range(0, len(members), size)]
        rng.shuffle(batches)
        return batches

    # -- planning -------------------------------------------------------------

    def _plan_buckets(self) -> tuple[list[int], list[_Bucket]]:
        """Over-long utterances, and buckets of the rest by duration (quantiles, merged)."""
        order = sorted(range(len(self._durations)), key=self._durations.__getitem__)
        fits = [i for i in order if self._durations[i] <= self._max_seconds]
        overlong = [i for i in order if self._durations[i] > self._max_seconds]
        count = min(self._num_buckets, len(fits))
        bounds = [round(j * len(fits) / count) for j in range(count + 1)] if count else [0]
        buckets: list[_Bucket] = []
        members: list[int] = []
        for start, stop in itertools.pairwise(bounds):
            members += fits[start:stop]
            size = self._batch_size(self._durations[members[-1]], len(members))
            # On a small dataset a quantile bucket can hold fewer utterances
            # than a batch; each would end in a tiny partial batch. Merging
            # neighbours until a bucket fills a few batches bounds that waste.
            if len(members) >= _MIN_BATCHES_PER_BUCKET * size:
                buckets.append(_Bucket(tuple(members), size))
                members = []
        if members:  # the longest utterances, too few to stand alone
            if buckets:
                members = list(buckets.pop().indices) + members
            size = self._batch_size(self._durations[members[-1]], len(members))
            buckets.append(_Bucket(tuple(members), size))
        return overlong, buckets

    def _pack_sorted(self) -> list[tuple[int, ...]]:
        """Longest first; each batch as large as its first (longest) utterance allows."""
        order = sorted(range(len(self._durations)), key=lambda i: (-self._durations[i], i))
        batches = []
        start = 0
        while start < len(order):
            size = self._batch_size(self._durations[order[start]], len(order) - start)
            batches.append(tuple(order[start : start + size]))
            start += size
        return batches

    def _batch_size(self, longest: float, available: int) -> int:
        """Most utterances no longer than ``longest`` that fit the bounds (at least 1)."""
        # Checked first: max_seconds / longest overflows for tiny (or zero) durations.
        fits_all = available * longest <= self._max_seconds
        size = available if fits_all else int(self._max_seconds // longest)
        # Guard against float division rounding up to an integer that overshoots.
        while size > 1 and size * longest > self._max_seconds:
            size -= 1
        if self._max_utterances is not None:
            size = min(size, self._max_utterances)
        return max(1, size)


def padding_fraction(batches: Iterable[Sequence[int]], durations: Sequence[float]) -> float:
    """Share of the padded batch seconds that is padding, not audio.

    ``sum(len(b) * max(d_b) - sum(d_b)) / sum(len(b) * max(d_b))`` over the
    batches; 0.0 when there is nothing to pad.
    """
    padded = covered = 0.0
    for batch in batches:
        if not batch:
            continue
        lengths = [durations[i] for i in batch]
        padded += len(lengths) * max(lengths)
        covered += sum(lengths)
    return 0.0 if padded == 0 else (padded - covered) / padded


def _check_arguments(
    durations: Sequence[float],
    max_seconds: float,
    max_utterances: int | None,
    num_replicas: int,
    rank: int,
    num_buckets: int,
) -> None:
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if max_utterances is not None and max_utterances < 1:
        raise ValueError(f"max_utterances must be >= 1 or None, got {max_utterances}")
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    bad = next((d for d in durations if not (d >= 0 and math.isfinite(d))), None)
    if bad is not None:
        raise ValueError(f"durations must be finite and >= 0, got {bad}")
