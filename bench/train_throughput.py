"""Training throughput of a recipe's model on generated LibriSpeech-like data; prints one JSON object.

The model is built from the recipe (``recipes/librispeech100.yaml`` by
default, dotted overrides allowed) through the registry, exactly as ``asrkit
run`` builds it. The data is generated: utterance durations follow the
train-clean-100-like distribution of ``bench/padding.py`` (1-25 s, mean
~12.7 s), written as FLAC in a LibriSpeech-layout folder (a tone, from
:mod:`asrkit.data.synthetic`, with random letter transcripts of ~15
characters a second) and read back through the trainer's own pipeline: the
``librispeech`` dataset, ``UtteranceDataset``, ``DurationBatchSampler`` and
the training ``DataLoader``, so the time spent waiting for data is real.
Each step is the trainer's ``batch_step`` + ``optimizer_step``.

The first ``--warmup`` steps are not counted (allocator, kernels, compile).
``data_wait_fraction`` is the time spent waiting on the loader over the step
time; ``peak_gpu_memory_mb`` is null on the CPU.

With ``--reference`` (default: ``../shared/baseline/seed_tutorial.py`` from the
repository, when present) the tutorial's script trains one epoch on the same
utterances (``--limit``), with the encoder's sizes and a batch size equal to
our mean batch, in the same invocation; ``reference.ratio`` is our audio
seconds per second over its. Its figure includes its first (warm-up) step.

    .venv/bin/python bench/train_throughput.py --steps 5 --max-seconds 60
    .venv/bin/python bench/train_throughput.py --quick             # CI-sized, seconds on a CPU
    .venv/bin/python bench/train_throughput.py --set encoder.rnn_dim=256 --precision bf16 --device cuda
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from padding import synthetic_durations
from rich.console import Console

from asrkit.data.sampler import DurationBatchSampler
from asrkit.data.synthetic import write_librispeech
from asrkit.engine.distributed import World
from asrkit.engine.loggers import MetricsLog
from asrkit.engine.optim import build_schedule
from asrkit.engine.parts import Training, build_training
from asrkit.engine.progress import Progress
from asrkit.engine.setup import resolve_device
from asrkit.engine.trainer import TrainState, batch_step, optimizer_step
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO.parent / "shared" / "baseline" / "seed_tutorial.py"
CHARS_PER_SECOND = 15.0  # LibriSpeech reads at ~2.7 words, ~15 characters, a second
QUICK_OVERRIDES = ("encoder.rnn_dim=32", "encoder.n_rnn_layers=1", "encoder.n_cnn_layers=1")
TRAIN, TEST = "train-bench", "test-bench"


def transcript(seconds: float, rng: random.Random) -> str:
    """Random upper-case words, ~15 characters a second, as LibriSpeech transcripts are written."""
    words, size = [], 0
    while size < CHARS_PER_SECOND * seconds:
        word = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWY") for _ in range(rng.randint(2, 8)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def plan_durations(needed_batches: int, max_seconds: float, seed: int, quick: bool) -> list[float]:
    """Enough train-clean-100-like durations for ``needed_batches`` batches of ``max_seconds``."""
    count = 8
    while True:
        durations = synthetic_durations(count, seed)
        if quick:  # CI: the same shape of batch plan, in a few seconds of audio
            durations = [1.0 + d / 25.0 for d in durations]
        if len(DurationBatchSampler(durations, max_seconds=max_seconds, seed=seed)) >= needed_batches:
            return durations
        count *= 2


def write_corpus(root: Path, durations: list[float], seed: int) -> None:
    """``root/LibriSpeech/{train-bench,test-bench}``: the generated utterances, and two for the reference's test."""
    rng = random.Random(seed)
    ids = [f"{1000 + i // 50}-{i % 50}-{i:04d}" for i in range(len(durations))]
    write_librispeech(
        root,
        TRAIN,
        {i: transcript(d, rng) for i, d in zip(ids, durations, strict=True)},
        dict(zip(ids, durations, strict=True)),
    )
    write_librispeech(root, TEST, {"9-9-0000": "A TEST", "9-9-0001": "ANOTHER TEST"}, 1.0)


def build_parts(args: argparse.Namespace, root: Path, overrides: list[str]) -> tuple[Training, int]:
    """The trainer's parts, built by ``asrkit run``'s own :func:`build_training`."""
    registry = load_registry()
    node = f"[{{name: librispeech, root: '{root}', subset: {TRAIN}}}]"
    settings = [
        f"data.train={node}",
        "data.valid=[]",
        "data.test=[]",
        "loggers=[]",
        "augmenters=[]" if args.no_augment else None,
        f"train.precision={args.precision}",
        f"train.batch.max_seconds={args.max_seconds}",
        f"train.num_workers={args.num_workers}",
        f"train.device={args.device}",
        "train.checkpoint_every_minutes=null",
    ]
    recipe = load_recipe(args.recipe, [s for s in settings if s] + overrides, registry)
    world = World()
    device = resolve_device(recipe.train.device, world)
    progress = Progress(Console(file=io.StringIO()), enabled=False)
    training = build_training(
        registry, recipe, world=world, device=device, run_dir=root / "run", log=MetricsLog([]), progress=progress
    )
    step = training.step
    if args.fused_adamw:
        opt = recipe.train.optimizer
        step.optimizer = torch.optim.AdamW(
            step.model.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, fused=True
        )
        step.schedule = build_schedule(step.optimizer, recipe.train.schedule, len(training.data.sampler))
    if args.compile:
        step.model.encoder.compile(dynamic=True)  # in place: step.wrapped is the model itself (one process)
    return training, sum(p.numel() for p in step.model.parameters())


def measure(parts: Training, warmup: int, steps: int) -> dict[str, object]:
    """Time ``warmup + steps`` optimizer steps; rates over the last ``steps`` only."""
    step, state = parts.step, TrainState()
    device = step.device
    cuda = device.type == "cuda"
    step.model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    totals = {"step_s": 0.0, "wait_s": 0.0, "audio_s": 0.0, "utterances": 0, "padded_s": 0.0}
    batches = iter(parts.data.loader)
    used_utterances = 0
    for index in range(warmup + steps):
        start = time.perf_counter()
        batch = next(batches)
        waited = time.perf_counter() - start
        batch_step(step, batch, True, True, 1)
        optimizer_step(step, state)
        step.optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        used_utterances += len(batch)
        if index >= warmup:
            totals["step_s"] += elapsed
            totals["wait_s"] += waited
            totals["audio_s"] += sum(batch.durations)
            totals["utterances"] += len(batch)
            totals["padded_s"] += len(batch) * max(batch.durations)
    step_s = totals["step_s"]
    return {
        "audio_s_per_s": round(totals["audio_s"] / step_s, 2),
        "utterances_per_s": round(totals["utterances"] / step_s, 3),
        "data_wait_fraction": round(totals["wait_s"] / step_s, 4),
        "seconds_per_step": round(step_s / steps, 3),
        "mean_utterances_per_batch": round(totals["utterances"] / steps, 2),
        "padding_fraction": round(1 - totals["audio_s"] / totals["padded_s"], 4),
        "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if cuda else None,
        "utterances_used": used_utterances,
    }


def run_reference(script: Path, root: Path, limit: int, batch_size: int, encoder: dict) -> dict[str, object]:
    """The tutorial's script for one epoch on the first ``limit`` generated utterances."""
    command = [
        sys.executable,
        str(script),
        *("--root", str(root), "--train", TRAIN, "--test", TEST, "--epochs", "1"),
        *("--limit", str(limit), "--batch-size", str(batch_size)),
        *("--rnn-dim", str(encoder["rnn_dim"]), "--n-rnn", str(encoder["n_rnn_layers"])),
        *("--n-cnn", str(encoder["n_cnn_layers"])),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # the same threads as ours
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"script": str(script), "error": f"exit {done.returncode}: {tail[0]}"}
    result = json.loads(lines[-1])
    return {"script": str(script), "limit": limit, "batch_size": batch_size, **result}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "librispeech100.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--max-seconds", type=float, default=None, help="padded seconds per batch (recipe's)")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument("--fused-adamw", action="store_true")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--no-augment", action="store_true", help="leave out the recipe's augmenters")
    parser.add_argument("--steps", type=int, default=5, help="measured optimizer steps")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted first steps")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE if DEFAULT_REFERENCE.is_file() else None)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--quick", action="store_true", help="CI-sized: a tiny model, a few 1-2 s utterances")
    args = parser.parse_args()
    overrides = list(args.overrides)
    if args.quick:
        overrides = [*QUICK_OVERRIDES, *overrides]
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
        args.max_seconds = args.max_seconds or 6.0
        args.num_workers = min(args.num_workers, 1)
        args.threads = args.threads or 1  # a busy CI machine makes two spinning threads far slower than one
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    probe = load_recipe(args.recipe, overrides, load_registry())
    args.max_seconds = args.max_seconds or probe.train.batch.max_seconds

    with tempfile.TemporaryDirectory(prefix="asrkit-bench-") as folder:
        root = Path(folder)
        os.environ["ASRKIT_CACHE_DIR"] = str(root / "cache")  # index entries of a temporary corpus
        durations = plan_durations(args.warmup + args.steps, args.max_seconds, args.seed, args.quick)
        write_corpus(root, durations, args.seed)
        parts, params = build_parts(args, root, overrides)
        figures = measure(parts, args.warmup, args.steps)
        encoder = parts.report.recipe["encoder"]
        report: dict[str, object] = {
            "recipe": Path(args.recipe).name,
            "overrides": overrides,
            "parameters": params,
            "device": str(parts.step.device),
            "device_name": device_name(parts.step.device),
            "threads": torch.get_num_threads(),
            "precision": parts.step.precision.name,
            "precision_asked": args.precision,
            "max_seconds": args.max_seconds,
            "num_workers": args.num_workers,
            "compile": args.compile,
            "fused_adamw": args.fused_adamw,
            "cudnn_benchmark": args.cudnn_benchmark,
            "augmenters": [a["name"] for a in parts.report.recipe["augmenters"]],
            "steps": args.steps,
            "warmup_steps": args.warmup,
            **figures,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "generated_utterances": len(durations),
            "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "python": platform.python_version(),
        }
        if args.reference is not None and not args.no_reference:
            batch_size = max(1, round(figures["mean_utterances_per_batch"]))
            reference = run_reference(args.reference, root, figures["utterances_used"], batch_size, encoder)
            if "audio_s_per_s" in reference:
                reference["ratio"] = round(figures["audio_s_per_s"] / reference["audio_s_per_s"], 3)
            report["reference"] = reference
        del parts  # DataLoader workers go before the folder does
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
