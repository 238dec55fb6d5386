"""Data-loading throughput: audio seconds and utterances per second the trainer can be fed.

Prints one JSON object. The pipeline is the trainer's: the demo corpus
(``librispeech`` dataset), ``UtteranceDataset`` decoding FLAC at 16 kHz,
``DurationBatchSampler`` and ``collate_batch``, through a ``DataLoader`` with
0, 1 and 2 worker processes. Nothing consumes the batches, so this is the
ceiling the data side puts on training speed. The corpus is small, so epochs
are repeated (with persistent workers) until ``--seconds`` of steady-state
time are measured; the first epoch, which includes starting the workers, is
timed separately.

    python bench/data_loading.py [--quick] [--root data/demo --subset train]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from asrkit.data.batches import UtteranceDataset, collate_batch
from asrkit.data.sampler import DurationBatchSampler
from asrkit_plugins.datasets.librispeech import LibriSpeech

SAMPLE_RATE = 16000


def measure(dataset: UtteranceDataset, workers: int, max_seconds: float, min_seconds: float) -> dict[str, float]:
    sampler = DurationBatchSampler(dataset.durations, max_seconds=max_seconds, shuffle=True, seed=0)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    start = time.perf_counter()
    first = _epoch(loader)
    first_seconds = time.perf_counter() - start
    epochs, totals = 0, [0, 0, 0.0]
    start = time.perf_counter()
    while epochs < 2 or time.perf_counter() - start < min_seconds:
        sampler.set_epoch(epochs + 1)
        for i, value in enumerate(_epoch(loader)):
            totals[i] += value
        epochs += 1
    elapsed = time.perf_counter() - start
    batches, utterances, audio_seconds = totals
    return {
        "workers": workers,
        "first_epoch_seconds": round(first_seconds, 3),
        "first_epoch_utterances": first[1],
        "epochs": epochs,
        "seconds": round(elapsed, 3),
        "audio_seconds_per_second": round(audio_seconds / elapsed, 1),
        "utterances_per_second": round(utterances / elapsed, 1),
        "batches_per_second": round(batches / elapsed, 2),
    }


def _epoch(loader: DataLoader) -> tuple[int, int, float]:
    """Batches, utterances and audio seconds delivered in one epoch."""
    batches = utterances = 0
    samples = 0
    for batch in loader:
        batches += 1
        utterances += len(batch)
        samples += int(batch.lengths.sum())
    return batches, utterances, samples / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent / "data" / "demo"))
    parser.add_argument("--subset", default="train")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-seconds", type=float, default=60.0, help="padded seconds per batch")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady-state time to measure per setting")
    parser.add_argument("--quick", action="store_true", help="about a second per setting (CI)")
    args = parser.parse_args()
    min_seconds = 1.0 if args.quick else args.seconds
    torch.set_num_threads(1)  # as in a DataLoader worker; the main process decodes when workers == 0
    corpus = LibriSpeech(LibriSpeech.Config(root=args.root, subset=args.subset))
    corpus.prepare()
    utterances = corpus.utterances()
    dataset = UtteranceDataset([(corpus, u) for u in utterances], SAMPLE_RATE)
    results = [measure(dataset, workers, args.max_seconds, min_seconds) for workers in args.workers]
    report = {
        "benchmark": "data_loading",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "corpus": {
            "root": args.root,
            "subset": args.subset,
            "utterances": len(utterances),
            "audio_seconds": round(sum(u.duration for u in utterances), 1),
        },
        "max_seconds_per_batch": args.max_seconds,
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
