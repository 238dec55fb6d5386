"""Training speed of asrkit's settings against the tutorial script, interleaved, as one Markdown table.

    .venv/bin/python bench/train_sweep.py                        # this machine's device, the default settings
    .venv/bin/python bench/train_sweep.py --device cuda --out sweep.jsonl   # the GPU session's one command
    .venv/bin/python bench/train_sweep.py --quick --rounds 2     # CI-sized, on the CPU

One generated LibriSpeech-like corpus (``bench/train_throughput.py``'s) is
written once; then every round runs each setting once, in its own process
(:mod:`interleave`): asrkit's settings through ``train_throughput.py``, and
the tutorial script (``../shared/baseline/seed_tutorial.py``) on the same
utterances, both as intended (``SEED_FIX_BATCH_FIRST=1``: its BiGRUs recur
over time, the same work as ours) and as published (layers 2-5 recur over
the batch axis: less work, so not a like-for-like baseline). The reference
trains two epochs of the utterances asrkit's measured steps take, in
batches of asrkit's mean batch size, and its best (warm) epoch counts, as
asrkit's warm-up steps do not. Each row gives the best and median audio
seconds per second over the rounds and the ratio to the reference as
intended taken from the same rounds, with the load average around the runs.

A time budget (``--budget-s``, 420 s by default: under 8 minutes with the
corpus) stops starting rounds that would not fit; at least one runs. A
setting that fails gets its one-line error in the table; the others run on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from interleave import Run, Setting, interleave, load_range, paired_speedups, summarize, value
from train_throughput import QUICK_OVERRIDES, TEST, TRAIN, plan_durations, write_corpus

from asrkit.data.sampler import DurationBatchSampler
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_REFERENCE = REPO.parent / "shared" / "baseline" / "seed_tutorial.py"
REFERENCE_INTENDED, REFERENCE_PUBLISHED = "reference", "reference-published"
SETTINGS: dict[str, tuple[str, ...]] = {
    "recipe": (),
    "packed": ("--set", "encoder.train_rnn=packed"),
    "padded": ("--set", "encoder.train_rnn=padded"),
    "fused": ("--set", "encoder.train_rnn=fused"),
    "workers0": ("--num-workers", "0"),
    "fused_adamw": ("--fused-adamw",),
    "fp32": ("--precision", "fp32"),
    "bf16": ("--precision", "bf16"),
    "fp16": ("--precision", "fp16"),
    "bf16+padded": ("--precision", "bf16", "--set", "encoder.train_rnn=padded"),
    "bf16+fused": ("--precision", "bf16", "--set", "encoder.train_rnn=fused"),
    "bf16+cudnn_benchmark": ("--precision", "bf16", "--cudnn-benchmark"),
    "bf16+fused_adamw": ("--precision", "bf16", "--fused-adamw"),
    "bf16+compile": ("--precision", "bf16", "--compile"),
}
"""asrkit's named settings: the arguments each adds to ``train_throughput.py`` (``recipe`` is the recipe as is)."""

DEFAULTS = {
    "cpu": ("recipe", "padded", "packed", REFERENCE_INTENDED, REFERENCE_PUBLISHED),
    "cuda": (
        "fp32",
        "bf16",
        "fp16",
        "bf16+padded",
        "bf16+fused",
        "bf16+cudnn_benchmark",
        "bf16+fused_adamw",
        "bf16+compile",
        REFERENCE_INTENDED,
        REFERENCE_PUBLISHED,
    ),
}
"""The settings swept when none are named, per device kind."""

COLUMNS = (
    "setting",
    "runs",
    "best audio s/s",
    "median audio s/s",
    "× reference (median of rounds)",
    "s/step",
    "data wait",
    "peak memory MB",
    "load",
)


def reference_setting(
    name: str, script: Path, root: Path, limit: int, batch: int, encoder: dict, threads: int
) -> Setting:
    """The tutorial script on the first ``limit`` generated utterances, two epochs, with our encoder's sizes."""
    command = (
        sys.executable,
        str(script),
        *("--root", str(root), "--train", TRAIN, "--test", TEST, "--epochs", "2"),
        *("--limit", str(limit), "--batch-size", str(batch)),
        *("--rnn-dim", str(encoder["rnn_dim"]), "--n-rnn", str(encoder["n_rnn_layers"])),
        *("--n-cnn", str(encoder["n_cnn_layers"])),
    )
    fixed = "1" if name == REFERENCE_INTENDED else "0"
    return Setting(name, command, {"SEED_FIX_BATCH_FIRST": fixed, "OMP_NUM_THREADS": str(threads)})


def exact_reference_rate(run: Run) -> None:
    """The script rounds its rate to 0.1; recompute it from its audio seconds and best epoch time."""
    report = run.report
    if report is not None and report.get("system") == "seed" and report.get("epoch_s_best"):
        report["audio_s_per_s"] = report["train_audio_s"] / report["epoch_s_best"]


def median_of(runs: list[Run], path: str) -> float | None:
    figures = [v for r in runs if r.report is not None and (v := value(r.report, path)) is not None]
    return statistics.median(figures) if figures else None


def table(runs: list[Run], names: list[str]) -> list[str]:
    summaries = summarize(runs, "audio_s_per_s", higher_is_better=True)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for name in names:
        summary = summaries[name]
        own = [r for r in runs if r.setting == name]
        if summary.best is None:
            error = summary.errors[0] if summary.errors else "no run"
            lines.append("| " + " | ".join([name, "0", error, *[""] * (len(COLUMNS) - 3)]) + " |")
            continue
        ratios = paired_speedups(runs, name, REFERENCE_INTENDED, "audio_s_per_s", higher_is_better=True)
        ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "–"
        step, wait = median_of(own, "seconds_per_step"), median_of(own, "data_wait_fraction")
        memory = median_of(own, "peak_gpu_memory_mb") or median_of(own, "peak_rss_mb")
        cells = [
            name,
            str(summary.runs),
            f"{summary.best:.2f}",
            f"{summary.median:.2f}",
            ratio,
            "–" if step is None else f"{step:.2f}",
            "–" if wait is None else f"{100 * wait:.1f} %",
            "–" if memory is None else f"{memory:,.0f}",
            f"{summary.load_min:.1f}–{summary.load_max:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=(*SETTINGS, REFERENCE_INTENDED, REFERENCE_PUBLISHED))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, help="measured steps per process (CPU 2, CUDA 10)")
    parser.add_argument("--warmup", type=int, help="uncounted first steps per process (CPU 1, CUDA 3)")
    parser.add_argument("--max-seconds", type=float, help="padded seconds per batch (CPU 30, CUDA the recipe's)")
    parser.add_argument("--threads", type=int, help="CPU threads of every run, ours and the reference's")
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "librispeech100.yaml"))
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the tutorial script")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no round that would end later")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed to each process")
    parser.add_argument("--out", type=Path, help="append every run's JSON report to this file, one line each")
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (train_throughput.py --quick)")
    parser.add_argument("extra", nargs="*", help="more train_throughput.py arguments, after --")
    args = parser.parse_args()
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else torch.device(args.device).type
    names = list(args.settings or DEFAULTS.get(kind, DEFAULTS["cpu"]))
    on_gpu = kind == "cuda"
    steps = args.steps or (10 if on_gpu else 2)
    warmup = args.warmup if args.warmup is not None else (3 if on_gpu else 1)
    overrides = list(QUICK_OVERRIDES) if args.quick else []
    recipe = load_recipe(args.recipe, overrides, load_registry())
    max_seconds = args.max_seconds or (6.0 if args.quick else None) or (None if on_gpu else 30.0)
    max_seconds = max_seconds or recipe.train.batch.max_seconds
    threads = args.threads or torch.get_num_threads()
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="asrkit-sweep-") as folder:
        root = Path(folder)
        durations = plan_durations(warmup + steps, max_seconds, 0, args.quick)
        write_corpus(root, durations, 0)
        mean_batch = len(durations) / len(DurationBatchSampler(durations, max_seconds=max_seconds, seed=0))
        batch = max(1, round(mean_batch))
        common = [
            *("--corpus", str(root), "--device", args.device, "--steps", str(steps), "--warmup", str(warmup)),
            *("--max-seconds", str(max_seconds), "--threads", str(threads), "--recipe", args.recipe),
            *(["--quick"] if args.quick else []),
            *args.extra,
        ]
        encoder = recipe.resolved()["encoder"]
        settings = []
        for name in names:
            if name in (REFERENCE_INTENDED, REFERENCE_PUBLISHED):
                limit = min(len(durations), batch * steps)
                settings.append(reference_setting(name, args.reference, root, limit, batch, encoder, threads))
            else:
                command = (sys.executable, str(BENCH / "train_throughput.py"), *SETTINGS[name], *common)
                settings.append(Setting(name, command))
        budget = args.budget_s - (time.perf_counter() - started)
        runs = interleave(settings, args.rounds, timeout=args.timeout, budget_s=budget)
    for run in runs:
        exact_reference_rate(run)
        if args.out is not None:
            with args.out.open("a", encoding="utf-8") as out:
                out.write(
                    json.dumps({"setting": run.setting, "round": run.round, "error": run.error, **(run.report or {})})
                )
                out.write("\n")
    first = next((r.report for r in runs if r.report is not None and "device_name" in r.report), None)
    if first is not None:
        print(
            f"{first['device_name']}, torch {first['torch']}, cuDNN {first['cudnn']}, {first['recipe']} "
            f"({first['parameters']:,} parameters), batches of {max_seconds:g} padded s, {steps} measured steps "
            f"after {warmup} per process, {threads} threads; reference: batches of {batch}, best of 2 epochs"
        )
    rounds = 1 + max((r.round for r in runs), default=0)
    print(f"{rounds} interleaved rounds, load average {load_range(runs)}, {time.perf_counter() - started:.0f} s")
    print()
    print("\n".join(table(runs, names)))


if __name__ == "__main__":
    main()
