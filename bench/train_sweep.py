"""The training-speed levers, one ``train_throughput.py`` run each, as a table: the GPU session's one command.

    .venv/bin/python bench/train_sweep.py --device cuda --reference ../shared/baseline/seed_tutorial.py
    .venv/bin/python bench/train_sweep.py --quick --settings fp32 bf16    # CI-sized, on the CPU

Each setting runs ``bench/train_throughput.py`` in its own process (so one
setting's compile cache, cuDNN autotuning or allocator state cannot help the
next) with the same data, steps and seed. The tutorial script runs once, with
the first setting, and every row's ratio is over its audio seconds per second.
Prints a Markdown table (what ``docs/benchmarks.md`` keeps) and, with
``--out``, writes each run's full JSON report as one line of that file. A
setting that fails gets its one-line error in the table; the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SETTINGS: dict[str, tuple[str, ...]] = {
    "fp32": ("--precision", "fp32"),
    "bf16": ("--precision", "bf16"),
    "fp16": ("--precision", "fp16"),
    "fp16+padded": ("--precision", "fp16", "--set", "encoder.train_rnn=padded"),
    "fp16+cudnn_benchmark": ("--precision", "fp16", "--cudnn-benchmark"),
    "fp16+fused_adamw": ("--precision", "fp16", "--fused-adamw"),
    "fp16+compile": ("--precision", "fp16", "--compile"),
    "fp16+all": ("--precision", "fp16", "--cudnn-benchmark", "--fused-adamw", "--compile"),
}
"""Named settings: the arguments each adds to ``train_throughput.py``."""

COLUMNS = ("setting", "precision", "audio s/s", "utt/s", "s/step", "data wait", "peak GPU MB", "× reference")


def run_setting(name: str, common: list[str], reference: list[str], timeout: float) -> dict[str, object]:
    command = [sys.executable, str(BENCH / "train_throughput.py"), *SETTINGS[name], *common, *reference]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"setting": name, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"setting": name, "error": f"exit {done.returncode}: {last}"}
    return {"setting": name, **json.loads(done.stdout)}


def row(report: dict[str, object], reference_rate: float | None) -> list[str]:
    if "error" in report:
        return [str(report["setting"]), report["error"], *[""] * (len(COLUMNS) - 2)]
    rate = float(report["audio_s_per_s"])
    memory = report["peak_gpu_memory_mb"]
    return [
        str(report["setting"]),
        str(report["precision"]),
        f"{rate:.1f}",
        f"{report['utterances_per_s']:.2f}",
        f"{report['seconds_per_step']:.3f}",
        f"{100 * float(report['data_wait_fraction']):.1f} %",
        "–" if memory is None else f"{memory:,.0f}",
        "–" if not reference_rate else f"{rate / reference_rate:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="uncounted first steps (compile, autotuning)")
    parser.add_argument("--reference", type=Path, help="the tutorial script, run once with the first setting")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed to each setting")
    parser.add_argument("--out", type=Path, help="append every run's JSON report to this file, one line each")
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (train_throughput.py --quick)")
    parser.add_argument("extra", nargs="*", help="more train_throughput.py arguments, after --")
    args = parser.parse_args()
    common = ["--device", args.device, "--steps", str(args.steps), "--warmup", str(args.warmup), *args.extra]
    if args.quick:
        common.append("--quick")
    reports = []
    for index, name in enumerate(args.settings):
        wants_reference = index == 0 and args.reference is not None
        reference = ["--reference", str(args.reference)] if wants_reference else ["--no-reference"]
        report = run_setting(name, common, reference, args.timeout)
        reports.append(report)
        if args.out is not None:
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(report) + "\n")
        print(f"{name}: {report.get('audio_s_per_s', report.get('error'))}", file=sys.stderr, flush=True)
    reference_report = reports[0].get("reference") if reports else None
    reference_rate = reference_report.get("audio_s_per_s") if isinstance(reference_report, dict) else None
    first = next((r for r in reports if "error" not in r), None)
    if first is not None:
        print(f"{first['device_name']}, torch {first['torch']}, cuDNN {first['cudnn']}, {first['recipe']}, ", end="")
        print(f"{first['parameters']:,} parameters, batches of {first['max_seconds']} padded s, {args.steps} steps")
    if isinstance(reference_report, dict):
        print(f"reference: {json.dumps(reference_report)}")
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for report in reports:
        print("| " + " | ".join(row(report, reference_rate)) + " |")


if __name__ == "__main__":
    main()
