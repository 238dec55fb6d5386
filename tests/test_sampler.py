"""Tests of the duration-bucketed batch sampler."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asrkit.data.sampler import DurationBatchSampler, padding_fraction
from asrkit.errors import CheckpointError


def durations_1_to_25(count: int = 2000, seed: int = 0) -> list[float]:
    """A skewed, LibriSpeech-like spread: mostly 12-17 s with a long short tail."""
    rng = random.Random(seed)
    values = [rng.uniform(1.0, 12.0) if rng.random() < 0.3 else rng.gauss(14.5, 1.5) for _ in range(count)]
    return [min(max(v, 1.0), 25.0) for v in values]


def flat(batches: list[list[int]]) -> list[int]:
    return [index for batch in batches for index in batch]


def cost(batch: list[int], durations: list[float]) -> float:
    return len(batch) * max(durations[i] for i in batch)


def check_exactly_once_and_bounded(
    batches: list[list[int]],
    durations: list[float],
    max_seconds: float,
    max_utterances: int | None = None,
) -> None:
    assert sorted(flat(batches)) == list(range(len(durations)))
    for batch in batches:
        assert batch, "empty batch"
        # Only a lone over-long utterance may exceed the bound.
        assert cost(batch, durations) <= max_seconds or len(batch) == 1
        if max_utterances is not None:
            assert len(batch) <= max_utterances


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_utterance_once_and_bound_respected(shuffle: bool) -> None:
    durations = durations_1_to_25()
    sampler = DurationBatchSampler(durations, max_seconds=120.0, shuffle=shuffle)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    check_exactly_once_and_bounded(batches, durations, 120.0)
    # The bound is actually used: batches are not trivially small.
    assert len(durations) / len(batches) > 6


def test_max_utterances() -> None:
    durations = [1.0] * 100 + [2.0] * 100
    sampler = DurationBatchSampler(durations, max_seconds=1000.0, max_utterances=7)
    batches = list(sampler)
    check_exactly_once_and_bounded(batches, durations, 1000.0, max_utterances=7)
    assert max(len(b) for b in batches) == 7


@pytest.mark.parametrize("shuffle", [True, False])
def test_overlong_utterance_forms_a_batch_of_one(shuffle: bool) -> None:
    durations = [3.0] * 20 + [50.0, 4.0, 45.0]
    batches = list(DurationBatchSampler(durations, max_seconds=30.0, shuffle=shuffle))
    assert [20] in batches and [22] in batches
    check_exactly_once_and_bounded(batches, durations, 30.0)
    assert all(cost(b, durations) <= 30.0 for b in batches if 20 not in b and 22 not in b)


def test_same_seed_and_epoch_same_batches_other_epoch_other_order() -> None:
    durations = durations_1_to_25(500)
    first = DurationBatchSampler(durations, 100.0, seed=3)
    second = DurationBatchSampler(durations, 100.0, seed=3)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    epoch1 = list(first)
    assert epoch1 != epoch0
    assert sorted(flat(epoch1)) == sorted(flat(epoch0))
    assert list(DurationBatchSampler(durations, 100.0, seed=4)) != epoch0
    # Bucket members are reshuffled too: batches are regrouped, not just reordered.
    assert {frozenset(b) for b in epoch1} != {frozenset(b) for b in epoch0}


def test_batch_order_is_mixed_across_lengths() -> None:
    durations = durations_1_to_25(3000)
    batches = list(DurationBatchSampler(durations, 100.0))
    means = [sum(durations[i] for i in b) / len(b) for b in batches]
    # Bucket-by-bucket order would correlate batch position with length (~0.9).
    assert abs(correlation(list(range(len(means))), means)) < 0.2


def correlation(xs: list[float], ys: list[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    return cov / (var_x * var_y) ** 0.5


def test_no_shuffle_is_fixed_and_longest_first() -> None:
    durations = durations_1_to_25(500)
    sampler = DurationBatchSampler(durations, 100.0, shuffle=False)
    epoch0 = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == epoch0
    order = [durations[i] for i in flat(epoch0)]
    assert order == sorted(order, reverse=True)


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("shuffle", [True, False])
def test_ranks_disjoint_equal_and_covering(replicas: int, shuffle: bool) -> None:
    durations = durations_1_to_25(700)
    options = {"max_seconds": 90.0, "shuffle": shuffle, "seed": 1}
    whole = list(DurationBatchSampler(durations, **options))
    ranks = [DurationBatchSampler(durations, num_replicas=replicas, rank=r, **options) for r in range(replicas)]
    for sampler in ranks:
        sampler.set_epoch(2)
    shards = [list(sampler) for sampler in ranks]
    assert len({len(shard) for shard in shards}) == 1
    assert all(len(sampler) == len(shards[0]) for sampler in ranks)
    # Dealing the shards back out gives one epoch's batch list, padded by
    # repeating its first batches: only those are seen twice.
    dealt = [shard[i] for i in range(len(shards[0])) for shard in shards]
    extra = len(dealt) - len(whole)
    assert 0 <= extra < replicas
    assert sorted(flat(dealt[: len(whole)])) == list(range(len(durations)))
    assert dealt[len(whole) :] == dealt[:extra]
    if extra == 0:
        ranks_of = Counter(i for shard in shards for i in set(flat(shard)))
        assert set(ranks_of.values()) == {1}


def test_fewer_batches_than_ranks_still_equal() -> None:
    shards = [list(DurationBatchSampler([1.0, 2.0], 10.0, num_replicas=3, rank=r, num_buckets=1)) for r in range(3)]
    assert len(shards[0]) == 1
    assert shards[0] == shards[1] == shards[2]
    assert sorted(shards[0][0]) == [0, 1]


@pytest.mark.parametrize(("replicas", "rank"), [(1, 0), (3, 2)])
def test_resume_continues_with_the_next_batch(replicas: int, rank: int) -> None:
    durations = durations_1_to_25(600)
    options = {"max_seconds": 80.0, "seed": 7, "num_replicas": replicas, "rank": rank}
    sampler = DurationBatchSampler(durations, **options)
    sampler.set_epoch(4)
    uninterrupted = list(sampler)
    consumed = 5
    sampler.set_position(consumed)
    state = sampler.state_dict()

    resumed = DurationBatchSampler(durations, **options)
    resumed.load_state_dict(state)
    assert len(resumed) == len(uninterrupted) - consumed
    assert list(resumed) == uninterrupted[consumed:]
    resumed.set_epoch(5)
    assert len(resumed) == len(uninterrupted)


def test_resume_with_other_settings_is_refused() -> None:
    durations = durations_1_to_25(100)
    state = DurationBatchSampler(durations, 80.0, num_replicas=2).state_dict()
    with pytest.raises(CheckpointError, match="num_replicas"):
        DurationBatchSampler(durations, 80.0, num_replicas=4).load_state_dict(state)


def test_position_out_of_range() -> None:
    sampler = DurationBatchSampler([1.0] * 10, 2.0)
    with pytest.raises(ValueError):
        sampler.set_position(len(sampler) + 1)


def test_works_as_a_dataloader_batch_sampler() -> None:
    durations = durations_1_to_25(200)
    sampler = DurationBatchSampler(durations, 60.0)
    loader = torch.utils.data.DataLoader(list(range(200)), batch_sampler=sampler)
    assert len(loader) == len(sampler)
    assert [batch.tolist() for batch in loader] == list(sampler)


def test_padding_fraction_definition() -> None:
    assert padding_fraction([[0, 1], [2]], [1.0, 3.0, 2.0]) == pytest.approx(2.0 / 8.0)
    assert padding_fraction([], []) == 0.0


def test_padding_far_below_random_fixed_size_batches() -> None:
    durations = durations_1_to_25(3000)
    bucketed = padding_fraction(DurationBatchSampler(durations, 300.0), durations)
    order = list(range(len(durations)))
    random.Random(0).shuffle(order)
    fixed = padding_fraction([order[i : i + 20] for i in range(0, len(order), 20)], durations)
    assert fixed > 0.2
    assert bucketed < 0.1
    assert bucketed < fixed / 4


def test_small_dataset_still_fills_batches() -> None:
    # 60 utterances would make 30 buckets of 2, hence batches of 2.
    durations = durations_1_to_25(60)
    batches = list(DurationBatchSampler(durations, max_seconds=200.0, num_buckets=30))
    check_exactly_once_and_bounded(batches, durations, 200.0)
    assert len(durations) / len(batches) > 6


def test_empty_dataset() -> None:
    sampler = DurationBatchSampler([], 10.0, num_replicas=2, rank=1)
    assert len(sampler) == 0 and list(sampler) == []


@settings(max_examples=150, deadline=None)
@given(
    durations=st.lists(st.floats(0.0, 40.0), max_size=80),
    max_seconds=st.floats(1.0, 100.0),
    max_utterances=st.none() | st.integers(1, 12),
    shuffle=st.booleans(),
    num_buckets=st.integers(1, 12),
    epoch=st.integers(0, 3),
)
def test_property_exactly_once_and_bounded(
    durations: list[float],
    max_seconds: float,
    max_utterances: int | None,
    shuffle: bool,
    num_buckets: int,
    epoch: int,
) -> None:
    sampler = DurationBatchSampler(durations, max_seconds, max_utterances, shuffle=shuffle, num_buckets=num_buckets)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    check_exactly_once_and_bounded(batches, durations, max_seconds, max_utterances)
