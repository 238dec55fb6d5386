"""Real-time factor and peak memory of ``asrkit transcribe`` on the CPU; prints one JSON object.

RTF is transcription time over audio time (below 1 is faster than real time;
the goal for the full model is 0.01 with greedy decoding on 2 cores). Every
setting runs in a fresh child process doing what ``asrkit transcribe`` does
(``load_model``, the decoder, :func:`asrkit.engine.transcribe.transcribe`),
so that its peak RSS (``ru_maxrss``) is its own; a first short file warms
it up, then the files are transcribed ``--repeats`` times and the fastest
time is kept. The settings run interleaved (:mod:`interleave`: every round
runs each setting once, ``--rounds`` rounds), and each setting's RTF is the
best and median over the rounds; ``speedup_over_first`` compares each
setting with the first one round by round. ``load_s`` is the checkpoint load
(and quantization).

The levers: ``threads`` (``torch.set_num_threads``), ``quantize`` (dynamic
int8 GRU and Linear weights, :func:`asrkit.quantize.quantize_for_cpu`),
``backend`` (``torch``, or the model exported by ``asrkit export`` run in
onnxruntime: ``onnx``, and ``onnx-int8`` with onnxruntime's dynamic int8
quantization of its weights), ``batch_seconds`` (all files in one padded
batch, or one file per batch) and the decoder. ``grad_modes`` times the
model's forward pass alone over the same batches with autograd on, under
``torch.no_grad`` and under ``torch.inference_mode`` (what transcribe uses).

Without ``--checkpoint`` the model is the full one of
``recipes/librispeech100.yaml`` (23.7 M parameters) with random weights: the
model's time does not depend on its weights, but beam search does (random
weights give flat distributions, the beam's worst case); give a trained
checkpoint and its own audio (``--audio``) for realistic beam figures.
``--wer-data ROOT:SUBSET`` also scores the checkpoint on that data with and
without quantization (greedy): the WER cost of ``--quantize``.

    .venv/bin/python bench/transcribe_rtf.py                      # 8 × 15 s, full model, the greedy grid
    .venv/bin/python bench/transcribe_rtf.py --grid cpu2           # 2 threads: fp32, int8, onnx, onnx-int8
    .venv/bin/python bench/transcribe_rtf.py --grid backends       # the same at 2 threads, then at 1
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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from interleave import Run, Setting, interleave, load_range, paired_speedups, summarize
from rich.console import Console
from torch import nn

from asrkit.audio import audio_duration
from asrkit.build import build, build_model
from asrkit.data.synthetic import flac_bytes
from asrkit.engine.checkpoint import load_model, model_payload, save_atomic
from asrkit.engine.inference import decoder_spec
from asrkit.engine.progress import Progress
from asrkit.engine.scoring import dataset_spec, score_checkpoint
from asrkit.engine.transcribe import transcribe
from asrkit.export import INPUT_NAMES, OUTPUT_NAMES, export_checkpoint
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


class OnnxModel(nn.Module):
    """The model exported by ``asrkit export`` in an onnxruntime session, with the acoustic model's call contract.

    ``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, T', V)`` log-probabilities, ``(B,)`` frame counts;
    log-probabilities are their own log-softmax, so callers that normalise logits get the same numbers.
    """

    def __init__(self, path: str, threads: int, frame_seconds: float) -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.frame_seconds = frame_seconds
        # An empty parameter: code that finds the model's device through its parameters finds the CPU.
        self.anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def log_probs(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What transcription calls: :meth:`asrkit.model.AcousticModel.log_probs`."""
        feeds = dict(zip(INPUT_NAMES, (waveforms.float().numpy(), lengths.long().numpy()), strict=True))
        log_probs, frames = self.session.run(list(OUTPUT_NAMES), feeds)
        return torch.from_numpy(log_probs), torch.from_numpy(frames)

    forward = log_probs


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM``, which exec resets (``ru_maxrss`` keeps the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def runnable_model(setting: dict[str, Any], loaded: Any) -> nn.Module:
    """The model a setting transcribes with: PyTorch float or int8, or an onnxruntime session."""
    backend = setting.get("backend", "torch")
    if backend != "torch":
        return OnnxModel(setting[backend], setting["threads"], loaded.model.frame_seconds)
    return quantize_for_cpu(loaded.model) if setting["quantize"] else loaded.model


def worker(setting: dict[str, Any]) -> dict[str, Any]:
    """Run one setting (in its own process) and return its figures."""
    torch.set_num_threads(setting["threads"])
    registry = load_registry()
    device = torch.device("cpu")
    start = time.perf_counter()
    loaded = load_model(setting["checkpoint"], registry, device)
    model = runnable_model(setting, loaded)
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
        "peak_rss_mb": peak_rss_mb(),
    }
    if setting.get("grad_modes") and setting.get("backend", "torch") == "torch":
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


SHOWN = ("backend", "decoder", "decoder_options", "threads", "quantize", "batch_seconds")


def setting_name(setting: dict[str, Any]) -> str:
    """A short unique name: backend and weights, threads, batching, decoder."""
    weights = setting.get("backend", "torch") + ("+int8" if setting["quantize"] else "")
    batching = "batched" if setting["batch_seconds"] > 1.0 else "unbatched"
    decoder = " ".join([setting["decoder"], *setting["decoder_options"]])
    return f"{weights}, {setting['threads']} thread(s), {batching}, {decoder}"


def summarize_settings(grid: list[dict[str, Any]], runs: list[Run], audio_seconds: float) -> list[dict[str, Any]]:
    """Per setting: RTF best and median over the rounds, peak RSS, and its speed-up over the first setting."""
    names = [setting_name(s) for s in grid]
    summaries = summarize(runs, "best_s", higher_is_better=False)
    rows = []
    for name, setting in zip(names, grid, strict=True):
        summary = summaries[name]
        own = [r.report for r in runs if r.setting == name and r.report is not None]
        row: dict[str, Any] = {"setting": name, **{k: setting.get(k, "torch") for k in SHOWN}, "runs": summary.runs}
        if summary.best is None:
            rows.append({**row, "error": summary.errors[0] if summary.errors else "no run"})
            continue
        ratios = paired_speedups(runs, name, names[0], "best_s", higher_is_better=False)
        rows.append(
            {
                **row,
                "rtf_best": round(summary.best / audio_seconds, 4),
                "rtf_median": round(summary.median / audio_seconds, 4),
                "speedup_over_first": round(statistics.median(ratios), 3) if ratios else None,
                "speedups_by_round": [round(r, 3) for r in ratios],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in own),
                "load_s": round(statistics.median(r["load_s"] for r in own), 3),
                "load_average": f"{summary.load_min:.2f}–{summary.load_max:.2f}",
                **({"grad_modes": own[0]["grad_modes"]} if "grad_modes" in own[0] else {}),
            }
        )
    return rows


def settings(args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid: greedy over threads × quantize (+ unbatched), then beam widths; ``cpu2``: 2 threads, every backend."""
    if args.quick:
        return [{**base, "threads": 1, "quantize": quantize} for quantize in (False, True)] + [
            {**base, "threads": 1, "quantize": False, "backend": "onnx-int8"},
            {**base, "threads": 1, "quantize": False, "decoder": "beam", "decoder_options": ["beam_width=10"]},
        ]
    if args.grid in ("cpu2", "backends"):
        backends = [
            {"quantize": False},
            {"quantize": True},
            {"quantize": False, "backend": "onnx"},
            {"quantize": False, "backend": "onnx-int8"},
        ]
        threads = (2,) if args.grid == "cpu2" else (2, 1)
        return [{**base, "threads": n, **backend} for n in threads for backend in backends]
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


def export_onnx_models(checkpoint: Path, folder: Path) -> dict[str, str]:
    """``asrkit export``'s ONNX model of ``checkpoint``, and its weights quantized to int8 by onnxruntime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exported = export_checkpoint(checkpoint, "onnx", folder / "model.onnx", load_registry()).path
    quantized = folder / "model.int8.onnx"
    quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8)
    return {"onnx": str(exported), "onnx-int8": str(quantized)}


def wer_cost(checkpoint: Path, data: str, folder: Path) -> dict[str, Any]:
    """Greedy WER and CER of ``checkpoint`` on ``data``, in float32 and with PyTorch's int8 quantization."""
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
    parser.add_argument("--repeats", type=int, default=2, help="timed transcriptions per process (best kept)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every setting")
    parser.add_argument(
        "--grid",
        choices=("full", "cpu2", "backends"),
        default="full",
        help="cpu2: every backend at 2 threads; backends: at 2 and 1",
    )
    parser.add_argument("--wer-data", help="ROOT:SUBSET (or a manifest) to score fp32 vs PyTorch int8 on")
    parser.add_argument("--quick", action="store_true", help="CI-sized: a tiny model, two 2 s files, beam 10")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    overrides = list(args.overrides)
    if args.quick:
        overrides = [*QUICK_OVERRIDES, *overrides]
        args.files, args.seconds, args.repeats, args.rounds, args.beam_widths = 2, 2.0, 1, 2, [10]

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
        grid = settings(args, base)
        onnx = {}
        if any(s.get("backend", "torch") != "torch" for s in grid):
            onnx = export_onnx_models(checkpoint, root / "onnx")
            grid = [{**s, **onnx} for s in grid]
        named = [Setting(setting_name(s), (sys.executable, __file__, "--worker", json.dumps(s))) for s in grid]
        runs = interleave(named, args.rounds, timeout=1800)
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        report: dict[str, Any] = {
            "checkpoint": "random weights" if args.checkpoint is None else str(args.checkpoint),
            "recipe_encoder": payload["recipe"]["encoder"],
            "encoder_parameters": sum(t.numel() for k, t in payload["model"].items() if k.startswith("encoder.")),
            "files": len(audio) - 1,
            "audio_seconds": round(audio_seconds, 2),
            "machine": f"CPU, {os.cpu_count()} cores",
            "rounds": 1 + max((r.round for r in runs), default=0),
            "load_average": load_range(runs),
            "torch": torch.__version__,
            "quantized_engine": torch.backends.quantized.engine,
            "settings": summarize_settings(grid, runs, audio_seconds),
        }
        if args.wer_data:
            report["wer_cost"] = wer_cost(checkpoint, args.wer_data, root / "wer")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
