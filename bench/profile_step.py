"""Where a training step's time goes: per stage of the forward pass, the backward pass, the optimizer.

    .venv/bin/python bench/profile_step.py --threads 2 --max-seconds 30       # the full model, the recipe as is
    .venv/bin/python bench/profile_step.py --set encoder.train_rnn=packed     # the packed GRUs, for comparison
    .venv/bin/python bench/profile_step.py --quick

Builds the model, data and optimizer exactly as ``bench/train_throughput.py``
does (the trainer's own loader, ``batch_step`` and ``optimizer_step``), runs
``--warmup`` uncounted steps, then ``--steps`` steps under ``torch.profiler``
with wall-clock timers on every top-level stage of the model (features,
each augmenter, and each child module of the encoder) through forward
hooks. Prints one JSON object: the seconds and share of the step per
stage (``forward/<stage>``; ``forward/rest``, the part of the model's
forward no stage's hook saw, such as the padded GRUs, which run through
``forward_padded``; ``backward``, the rest of the trainer's batch step:
the whole backward pass, which autograd does not split by module, and the
loss where the model's forward does not compute it; ``optimizer`` and
``data wait``), and the operators with the most self CPU time. One process,
one setting: compare settings with ``train_sweep.py``, which interleaves.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from train_throughput import QUICK_OVERRIDES, build_parts, plan_durations, write_corpus

from asrkit.engine.trainer import TrainState, batch_step, optimizer_step

REPO = Path(__file__).resolve().parent.parent


def stage_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The stages timed: the model's children but the encoder, and the encoder's; a list's items share its name."""
    children = [(n, c) for n, c in model.named_children() if n != "encoder"]
    children += [(f"encoder.{n}", c) for n, c in model.encoder.named_children()]
    stages = []
    for name, child in children:  # a ModuleList is never called itself: time its items
        stages += [(name, item) for item in child] if isinstance(child, torch.nn.ModuleList) else [(name, child)]
    return stages


def add_timers(stages: list[tuple[str, torch.nn.Module]], seconds: dict[str, float]) -> None:
    """Forward hooks adding each stage's wall time (its whole forward, children included) to ``seconds``."""
    for name, module in stages:
        started: list[float] = []

        def before(_module: torch.nn.Module, _inputs: object, started: list[float] = started) -> None:
            started.append(time.perf_counter())

        def after(_module: torch.nn.Module, _in: object, _out: object, name: str = name, started=started) -> None:
            seconds[f"forward/{name}"] += time.perf_counter() - started.pop()

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "librispeech100.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="padded seconds per batch")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="operators listed")
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few 1-2 s utterances")
    args = parser.parse_args()
    overrides = [*QUICK_OVERRIDES, *args.overrides] if args.quick else list(args.overrides)
    if args.quick:
        args.max_seconds, args.steps, args.num_workers, args.threads = 6.0, 1, 0, 1
    torch.set_num_threads(args.threads)
    options = argparse.Namespace(
        recipe=args.recipe,
        no_augment=False,
        precision="fp32",
        max_seconds=args.max_seconds,
        num_workers=args.num_workers,
        device="cpu",
        fused_adamw=False,
        compile=False,
    )
    with tempfile.TemporaryDirectory(prefix="asrkit-profile-") as folder:
        root = Path(folder)
        os.environ["ASRKIT_CACHE_DIR"] = str(root / "cache")
        write_corpus(root, plan_durations(args.warmup + args.steps, args.max_seconds, 0, args.quick), 0)
        parts, parameters = build_parts(options, root, overrides)
        seconds: dict[str, float] = defaultdict(float)
        step_parts, state, batches = parts.step, TrainState(), iter(parts.data.loader)
        step_parts.model.train()
        for _ in range(args.warmup):
            batch_step(step_parts, next(batches), True, True, 1)
            optimizer_step(step_parts, state)
            step_parts.optimizer.zero_grad(set_to_none=True)
        add_timers(stage_modules(step_parts.model), seconds)
        whole: dict[str, float] = defaultdict(float)  # the model's whole forward, to find what no hook saw
        add_timers([("model", step_parts.model)], whole)
        audio = 0.0
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            for _ in range(args.steps):
                start = time.perf_counter()
                batch = next(batches)
                seconds["data wait"] += time.perf_counter() - start
                audio += sum(batch.durations)
                hooked_before, forward_before = (
                    sum(v for k, v in seconds.items() if k.startswith("forward/")),
                    sum(whole.values()),
                )
                start = time.perf_counter()
                batch_step(step_parts, batch, True, True, 1)
                step = time.perf_counter() - start
                forward = sum(whole.values()) - forward_before
                hooked = sum(v for k, v in seconds.items() if k.startswith("forward/")) - hooked_before
                # Modules called other than through __call__ (the padded GRUs' forward_padded) show up here.
                seconds["forward/rest"] += forward - hooked
                seconds["backward"] += step - forward
                start = time.perf_counter()
                optimizer_step(step_parts, state)
                step_parts.optimizer.zero_grad(set_to_none=True)
                seconds["optimizer"] += time.perf_counter() - start
        del parts, step_parts, batches
    total = sum(seconds.values())
    operators = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    profiled = sum(e.self_cpu_time_total for e in profile.key_averages())
    print(
        json.dumps(
            {
                "recipe": Path(args.recipe).name,
                "overrides": overrides,
                "parameters": parameters,
                "threads": args.threads,
                "steps": args.steps,
                "audio_seconds": round(audio, 2),
                "step_seconds": round(total / args.steps, 3),
                "audio_s_per_s": round(audio / total, 3),
                "load_average": round(os.getloadavg()[0], 2),
                "stages": {k: {"s": round(v, 3), "share": round(v / total, 4)} for k, v in seconds.items()},
                "top_operators_self_cpu": [
                    {"name": e.key, "share": round(e.self_cpu_time_total / profiled, 4), "calls": e.count}
                    for e in operators
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
