"""Real-time factor and peak memory of ``asrkit transcribe`` on the CPU; prints one JSON object.

RTF is transcription time over audio time (below 1 is faster than real time;
the goal for the full model is 0.05 with greedy decoding on 2 cores). Every
setting runs in a fresh child process doing what ``asrkit transcribe`` does
(``load_model``, the decoder, :func:`asrkit.engine.transcribe.transcribe`),
so that its peak RSS (``ru_maxrss``) is its own; a first short file warms
it up, then the files are transcribed ``--repeats`` times and the fastest and
median times are kept. ``load_s`` is the checkpoint load (and quantization),
``process_wall_s`` the child's whole life, imports and repeats included.

The levers: ``threads`` (``torch.set_num_threads``), ``quantize`` (dynamic
int8 GRU and Linear weights, :func:`asrkit.quantize.quantize_for_cpu`),
``batch_seconds`` (all files in one padded batch, or one file per batch) and
the decoder. ``grad_modes`` times the model's forward pass alone over the same
batches with autograd on, under ``torch.no_grad`` and under
``torch.inference_mode`` (what transcribe uses).

Without ``--checkpoint`` the model is the full one of
``recipes/librispeech100.yaml`` (23.7 M parameters) with random weights: the
model's time does not depend on its weights, but beam search does (random
weights give flat distributions, the beam's worst case); give a trained
checkpoint and its own audio (``--audio``) for realistic beam figures.
``--wer-data ROOT:SUBSET`` also scores the checkpoint on that data with and
without quantization (greedy): the WER cost of ``--quantize``.

    .venv/bin/python bench/transcribe_rtf.py                      # 8 × 15 s, full model
    .venv/bin/python bench/transcribe_rtf.py --checkpoint run/checkpoints/best.pt \\
        --audio data/demo/LibriSpeech/test --wer-data data/demo:test
    .venv/bin/python bench/transcribe_rtf.py --quick              # CI-sized
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from asrkit.audio import audio_duration
from asrkit.build import build, build_model
from asrkit.data.synthetic import flac_bytes
from asrkit.engine.checkpoint import load_model, model_payload, save_atomic
from asrkit.engine.inference import decoder_spec
from asrkit.engine.progress import Progress
from asrkit.engine.scoring import dataset_spec, score_checkpoint
from asrkit.engine.transcribe import transcribe
from asrkit.quantize import quantize_for_cpu
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
QUICK_OVERRIDES = ("encoder.rnn_dim=32", "encoder.n_rnn_layers=1", "encoder.n_cnn_layers=1")
WARMUP_SECONDS = 1.0


def make_checkpoint(recipe_file: str, overrides: list[str], path: Path) -> None:
    """A checkpoint of the recipe's model with random weights (seed 0)."""
    registry = load_registry()
    recipe = load_recipe(recipe_file, ["loggers=[]", *overrides], registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer)
    save_atomic(model_payload(recipe.resolved(), model, tokenizer), path)


def make_audio(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` FLAC files of ``seconds`` (tones of different pitch) and the warm-up file, first."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (length, pitch) in enumerate(
        [(WARMUP_SECONDS, 300.0)] + [(seconds, 200.0 + 40 * i) for i in range(count)]
    ):
        path = folder / f"{index:03d}.flac"
        path.write_bytes(flac_bytes(length, frequency=pitch))
        paths.append(path)
    return paths


def find_audio(folder: Path) -> list[Path]:
    """Every audio file under ``folder``, the shortest first: it is the warm-up, and not timed."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".flac", ".wav", ".ogg", ".mp3"))
    return sorted(paths, key=audio_duration)


def worker(setting: dict[str, Any]) -> dict[str, Any]:
    """Run one setting (in its own process) and return its figures."""
    torch.set_num_threads(setting["threads"])
    registry = load_registry()
    device = torch.device("cpu")
    start = time.perf_counter()
    loaded = load_model(setting["checkpoint"], registry, device)
    model = quantize_for_cpu(loaded.model) if setting["quantize"] else loaded.model
    loaded.model = model  # the float weights go, as they would in asrkit transcribe --quantize
    load_s = time.perf_counter() - start
    spec = decoder_spec(registry, loaded.recipe.decoder, setting["decoder"], setting["decoder_options"])
    decoder = build(registry, spec, tokenizer=loaded.tokenizer)
    rate = loaded.recipe.data.sample_rate
    warmup, *files = setting["audio"]

    def run(paths: list[str]) -> tuple[float, list[str]]:
        start = time.perf_counter()
        texts = transcribe(
            model,
            decoder,
            paths,
            sample_rate=rate,
            device=device,
            chunk_seconds=setting["chunk_seconds"],
            batch_seconds=setting["batch_seconds"],
        )
        return time.perf_counter() - start, [t.text for t in texts]

    try:
        run([warmup])
        times = [run(files)[0] for _ in range(setting["repeats"])]
    finally:
        decoder.close()
    result = {
        "load_s": round(load_s, 3),
        "best_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if setting.get("grad_modes"):
        result["grad_modes"] = time_grad_modes(model, files, rate, setting["repeats"])
    return result


def time_grad_modes(model: torch.nn.Module, files: list[str], rate: int, repeats: int) -> dict[str, float]:
    """Best forward time over all ``files`` in one padded batch, per autograd mode."""
    from asrkit.audio import load_audio

    waves = [load_audio(path, rate) for path in files]
    lengths = torch.tensor([w.shape[0] for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for row, wave in enumerate(waves):
        batch[row, : wave.shape[0]] = wave
    modes = {"grad_enabled": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
    best = {}
    for name, mode in modes.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with mode():
                model(batch, lengths)
            times.append(time.perf_counter() - start)
        best[name] = round(min(times), 3)
    return best


def run_setting(setting: dict[str, Any], audio_seconds: float) -> dict[str, Any]:
    """One child process; RTFs from its best and median transcription times."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(setting)], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    shown = {k: setting[k] for k in ("decoder", "decoder_options", "threads", "quantize", "batch_seconds")}
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {**shown, "error": f"exit {done.returncode}: {tail[0]}"}
    figures = json.loads(lines[-1])
    return {
        **shown,
        "rtf_best": round(figures["best_s"] / audio_seconds, 4),
        "rtf_median": round(figures["median_s"] / audio_seconds, 4),
        **figures,
        "process_wall_s": round(wall, 2),
    }


def settings(args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid: greedy over threads × quantize (+ unbatched), then beam widths; a few greedy ones with --quick."""
    if args.quick:
        return [{**base, "threads": 1, "quantize": quantize} for quantize in (False, True)] + [
            {**base, "threads": 1, "quantize": False, "decoder": "beam", "decoder_options": ["beam_width=10"]}
        ]
    one_file = 1.0  # below every file's length: each file (chunk) is a batch of its own
    grid = []
    for quantize in (False, True):
        for threads in (1, 2):
            grid.append({**base, "threads": threads, "quantize": quantize, "grad_modes": threads == 1})
        grid.append({**base, "threads": 1, "quantize": quantize, "batch_seconds": one_file})
    for width in args.beam_widths:
        for quantize in (False, True):
            grid.append(
                {
                    **base,
                    "threads": 1,
                    "quantize": quantize,
                    "decoder": "beam",
                    "decoder_options": [f"beam_width={width}"],
                }
            )
    return grid


def wer_cost(checkpoint: Path, data: str, folder: Path) -> dict[str, Any]:
    """Greedy WER and CER of ``checkpoint`` on ``data``, in float32 and quantized."""
    registry = load_registry()
    loaded = load_model(checkpoint, registry, "cpu")
    decoder = build(registry, decoder_spec(registry, loaded.recipe.decoder, "greedy", []), tokenizer=loaded.tokenizer)
    progress = Progress(Console(file=io.StringIO()), enabled=False)
    figures = {}
    for name, model in (("fp32", loaded.model), ("int8", quantize_for_cpu(loaded.model))):
        loaded.model = model
        (result,) = score_checkpoint(
            registry, loaded, [dataset_spec(registry, data)], {"greedy": decoder}, folder / name, progress, 0
        )
        figures[name] = {"wer": round(result.wer, 4), "cer": round(result.cer, 4), "utterances": result.utterances}
    figures["wer_increase"] = round(figures["int8"]["wer"] - figures["fp32"]["wer"], 4)
    return {"data": data, "checkpoint": str(checkpoint), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "librispeech100.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--checkpoint", type=Path, help="a trained checkpoint (default: random weights)")
    parser.add_argument("--audio", type=Path, help="a folder of audio files (default: generated tones)")
    parser.add_argument("--files", type=int, default=8, help="generated files")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each generated file")
    parser.add_argument("--beam-widths", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wer-data", help="ROOT:SUBSET (or a manifest) to score fp32 vs int8 on")
    parser.add_argument("--quick", action="store_true", help="CI-sized: a tiny model, two 2 s files, beam 10")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    overrides = list(args.overrides)
    if args.quick:
        overrides = [*QUICK_OVERRIDES, *overrides]
        args.files, args.seconds, args.repeats, args.beam_widths = 2, 2.0, 1, [10]

    with tempfile.TemporaryDirectory(prefix="asrkit-rtf-") as folder:
        root = Path(folder)
        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = root / "model.pt"
            make_checkpoint(args.recipe, overrides, checkpoint)
        audio = find_audio(args.audio) if args.audio else make_audio(root / "audio", args.files, args.seconds)
        audio_seconds = sum(audio_duration(p) for p in audio[1:])
        base = {
            "checkpoint": str(checkpoint),
            "audio": [str(p) for p in audio],
            "decoder": "greedy",
            "decoder_options": [],
            "chunk_seconds": 30.0,
            "batch_seconds": 300.0,
            "repeats": args.repeats,
        }
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        report: dict[str, Any] = {
            "checkpoint": "random weights" if args.checkpoint is None else str(args.checkpoint),
            "recipe_encoder": payload["recipe"]["encoder"],
            "encoder_parameters": sum(t.numel() for k, t in payload["model"].items() if k.startswith("encoder.")),
            "files": len(audio) - 1,
            "audio_seconds": round(audio_seconds, 2),
            "machine": f"CPU, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start",
            "torch": torch.__version__,
            "quantized_engine": torch.backends.quantized.engine,
            "settings": [run_setting(s, audio_seconds) for s in settings(args, base)],
        }
        if args.wer_data:
            report["wer_cost"] = wer_cost(checkpoint, args.wer_data, root / "wer")
        report["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
