"""How much of a padded batch is padding: DurationBatchSampler vs random batches.

Prints one JSON object. The baseline is what many tutorials do: shuffle, then
cut into fixed batches of 20 utterances. The sampler is given the
``max_seconds`` that makes its mean batch hold the same 20 utterances, so both
take about the same number of steps per epoch. ``max_padded_seconds`` is the
costliest batch of an epoch, the figure that sets peak GPU memory.

    python bench/padding.py [--durations-from LIBRISPEECH_DIR]

Without real data it uses a synthetic train-clean-100-like distribution (see
``synthetic_durations``); with ``--durations-from`` it also reads the header
of every ``*.flac`` under the folder.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from asrkit.audio import audio_duration
from asrkit.data.sampler import DurationBatchSampler, padding_fraction
from asrkit.errors import AudioError

TRAIN_CLEAN_100_UTTERANCES = 28_539
SYNTHETIC_RECIPE = (
    "clip(mixture: 72% normal(mean 14.3 s, sd 1.3 s) + 28% 1 s + gamma(shape 2.5, scale 3.0 s), 1 s, 25 s)"
)


def synthetic_durations(count: int, seed: int) -> list[float]:
    """train-clean-100-like: a peak at 12-16 s, a long tail toward 1 s, mean ~12.7 s.

    The real corpus is 100.6 h over 28,539 utterances (mean 12.69 s): most are
    cut near 15 s, the shorter ones are chapter ends.
    """
    rng = np.random.default_rng(seed)
    peak = rng.normal(14.3, 1.3, count)
    tail = 1.0 + rng.gamma(2.5, 3.0, count)
    durations = np.where(rng.random(count) < 0.28, tail, peak)
    return np.clip(durations, 1.0, 25.0).tolist()


def flac_durations(folder: Path) -> tuple[list[float], int]:
    """Header durations of every ``*.flac`` under ``folder``, and how many were unreadable."""
    durations, unreadable = [], 0
    for path in sorted(folder.rglob("*.flac")):
        try:
            durations.append(audio_duration(path))
        except AudioError as error:
            print(error, file=sys.stderr)
            unreadable += 1
    return durations, unreadable


def max_seconds_for(durations: list[float], batch_size: int, num_buckets: int) -> float:
    """Smallest whole number of seconds whose mean batch holds >= ``batch_size`` utterances."""
    low, high = 1, int(batch_size * max(durations)) + 1
    while low < high:
        middle = (low + high) // 2
        batches = len(DurationBatchSampler(durations, middle, num_buckets=num_buckets))
        if len(durations) / batches >= batch_size:
            high = middle
        else:
            low = middle + 1
    return float(low)


def compare(durations: list[float], batch_size: int, num_buckets: int, epochs: int, seed: int) -> dict[str, object]:
    """Padding and batch counts of the three ways to batch ``durations``."""
    max_seconds = max_seconds_for(durations, batch_size, num_buckets)
    sampler = DurationBatchSampler(durations, max_seconds, num_buckets=num_buckets, seed=seed)
    bucketed, bucketed_peak = [], 0.0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        bucketed.append(padding_fraction(sampler, durations))
        bucketed_peak = max(bucketed_peak, _peak(sampler, durations))
    ordered = DurationBatchSampler(durations, max_seconds, shuffle=False)
    rng = random.Random(seed)
    fixed, fixed_peak = [], 0.0
    for _ in range(epochs):
        order = list(range(len(durations)))
        rng.shuffle(order)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        fixed.append(padding_fraction(batches, durations))
        fixed_peak = max(fixed_peak, _peak(batches, durations))
    return {
        "utterances": len(durations),
        "hours": round(sum(durations) / 3600, 2),
        "duration_s": _summary(durations),
        "max_seconds": max_seconds,
        "duration_batch_sampler": {
            "num_buckets": num_buckets,
            "padding_fraction": round(statistics.mean(bucketed), 4),
            "batches_per_epoch": len(sampler),
            "mean_utterances_per_batch": round(len(durations) / len(sampler), 2),
            "max_padded_seconds": round(bucketed_peak, 1),
        },
        "sorted_eval_order": {
            "padding_fraction": round(padding_fraction(ordered, durations), 4),
            "batches_per_epoch": len(ordered),
            "max_padded_seconds": round(_peak(ordered, durations), 1),
        },
        f"random_fixed_{batch_size}": {
            "padding_fraction": round(statistics.mean(fixed), 4),
            "batches_per_epoch": -(-len(durations) // batch_size),
            "max_padded_seconds": round(fixed_peak, 1),
        },
        "epochs_averaged": epochs,
    }


def _peak(batches: Iterable[list[int]], durations: list[float]) -> float:
    """Padded seconds of the costliest batch."""
    return max(len(b) * max(durations[i] for i in b) for b in batches)


def _summary(durations: list[float]) -> dict[str, float]:
    quantiles = np.percentile(durations, [0, 5, 25, 50, 75, 95, 100])
    names = ["min", "p5", "p25", "median", "p75", "p95", "max"]
    summary = {name: round(float(q), 2) for name, q in zip(names, quantiles, strict=True)}
    summary["mean"] = round(statistics.mean(durations), 2)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations-from", type=Path, help="a LibriSpeech-layout folder")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--num-buckets", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3, help="epochs to average over")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    synthetic = synthetic_durations(TRAIN_CLEAN_100_UTTERANCES, args.seed)
    report: dict[str, object] = {
        "synthetic_train_clean_100": {
            "distribution": SYNTHETIC_RECIPE,
            **compare(synthetic, args.batch_size, args.num_buckets, args.epochs, args.seed),
        }
    }
    if args.durations_from is not None:
        durations, unreadable = flac_durations(args.durations_from)
        if not durations:
            parser.error(f"no readable *.flac under {args.durations_from}")
        report["durations_from"] = {
            "folder": str(args.durations_from),
            "unreadable_files": unreadable,
            **compare(durations, args.batch_size, args.num_buckets, args.epochs, args.seed),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
