"""Robustness on unseen synthesizers: train demo-recipe variants, score each on data/cross_synth, print a table.

Every variant trains on ``data/demo`` (espeak-ng voices only) for the same
epochs, is chosen on the demo's dev voices (never on the cross-synthesizer
ones), and is then scored with greedy decoding on the demo's test voices
(in-domain), the cross-synthesizer dev voice (flite kal16) and the
cross-synthesizer test voices (flite slt, rms, awb, festival kal_diphone; see
``scripts/make_cross_synth_eval.py``). With ``--average`` the last N best
checkpoints' average (``checkpoints/averaged.pt``) is scored too.

The noise the ``add_noise`` variants mix in is generated here, since no noise
corpus can be downloaded on the development machine: white, pink and brown
noise, mains hum with harmonics, and babble (three to six overlapping
*training* utterances, so no test voice leaks in). The RIRs are simulated with
``asrkit data simulate-rirs``.

Usage (from the repository root; one variant after another, each a few minutes on 2 CPU cores)::

    python bench/robustness.py --work /tmp/robustness [--variants base,speed,...] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import yaml

RATE = 16000
SPEC = {"name": "specaugment", "freq_masks": 2, "freq_mask_width": 8, "time_masks": 2, "time_mask_width": 10}
SPEED = {"name": "speed_perturb", "factors": [0.9, 1.0, 1.1]}
SPEED_WIDE = {"name": "speed_perturb", "factors": [0.8, 0.9, 1.0, 1.1, 1.2]}  # formants move too: VTLP-like


def variants(work: Path) -> dict[str, dict[str, Any]]:
    """Name → (recipe file, augmenters before SpecAugment)."""
    noise = {"name": "add_noise", "source": str(work / "noise"), "min_snr_db": 5.0, "max_snr_db": 25.0}
    reverb = {"name": "reverb", "source": str(work / "rirs"), "probability": 0.5}
    return {
        "base": {"recipe": "recipes/mini.yaml", "augmenters": []},
        "speed": {"recipe": "recipes/mini.yaml", "augmenters": [SPEED]},
        "noise": {"recipe": "recipes/mini.yaml", "augmenters": [noise]},
        "reverb": {"recipe": "recipes/mini.yaml", "augmenters": [reverb]},
        "all": {"recipe": "recipes/mini.yaml", "augmenters": [SPEED, reverb, noise]},
        "speed_wide": {"recipe": "recipes/mini.yaml", "augmenters": [SPEED_WIDE]},
        "all_wide": {"recipe": "recipes/mini.yaml", "augmenters": [SPEED_WIDE, reverb, noise]},
        "conformer": {"recipe": "recipes/mini_conformer.yaml", "augmenters": []},
        "conformer_all": {"recipe": "recipes/mini_conformer.yaml", "augmenters": [SPEED, reverb, noise]},
    }


def make_noise(folder: Path, seed: int = 0) -> None:
    """Generated noise clips (see the module docstring), 4 s each, in a MUSAN-like layout."""
    if folder.exists():
        return
    rng = np.random.default_rng(seed)
    n = 4 * RATE
    spectrum_shapes = {"white": 0.0, "pink": 0.5, "brown": 1.0}
    for kind, exponent in spectrum_shapes.items():
        for i in range(3):
            spectrum = np.fft.rfft(rng.standard_normal(n))
            spectrum[1:] /= np.arange(1, len(spectrum)) ** exponent
            write(folder / "noise" / kind / f"{kind}-{i}.wav", np.fft.irfft(spectrum, n))
    t = np.arange(n) / RATE
    for i, base in enumerate((50.0, 60.0)):
        hum = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        write(folder / "noise" / "hum" / f"hum-{i}.wav", hum + 0.05 * rng.standard_normal(n))
    train = sorted(Path("data/demo/LibriSpeech/train").rglob("*.flac"))
    for i in range(6):
        babble = np.zeros(n)
        for path in rng.choice(train, size=int(rng.integers(3, 7)), replace=False):
            speech, _ = soundfile.read(path)
            start = int(rng.integers(0, n - len(speech)))
            babble[start : start + len(speech)] += speech
        write(folder / "speech" / "babble" / f"babble-{i}.wav", babble)


def write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.5 * samples / np.abs(samples).max(), RATE)


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def scores(results: Path) -> dict[str, float]:
    data = json.loads(results.read_text())
    return {r["set"]: r["wer"] for r in data["test"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for noise, RIRs, recipes and runs")
    parser.add_argument("--variants", default=",".join(variants(Path("."))), help="comma-separated variant names")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--average", type=int, default=0, help="also score the average of the N best checkpoints")
    args = parser.parse_args(argv)
    asrkit = str(Path(sys.executable).with_name("asrkit"))
    make_noise(args.work / "noise")
    if not (args.work / "rirs").exists():
        run([asrkit, "data", "simulate-rirs", str(args.work / "rirs"), "--count", "50", "--seed", "0"])
    table = ["| variant | epochs | train s | demo test WER | cross dev WER | cross test WER |", "|---" * 6 + "|"]
    for name in args.variants.split(","):
        spec = variants(args.work)[name]
        recipe = yaml.safe_load(Path(spec["recipe"]).read_text())
        recipe["augmenters"] = [*spec["augmenters"], SPEC]
        recipe["train"]["epochs"] = args.epochs
        if args.average:
            recipe["train"]["average_best"] = args.average
        path = args.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        out = args.work / "runs" / name
        started = time.monotonic()
        run([asrkit, "run", str(path), "--out", str(out), "--quiet"])
        seconds = time.monotonic() - started
        checkpoints = ["best.pt"] + (["averaged.pt"] if args.average else [])
        for checkpoint in checkpoints:
            evaluation = args.work / "evaluations" / f"{name}-{checkpoint[:-3]}"
            sets = ["data/demo:test", "data/cross_synth:dev", "data/cross_synth:test"]
            command = [asrkit, "evaluate", str(out / "checkpoints" / checkpoint), "--out", str(evaluation)]
            run([*command, *(a for s in sets for a in ("--data", s)), "--num-workers", "0", "--quiet"])
            wer = scores(evaluation / "results.json")  # sets named test, dev, test-2 in --data order
            label = name if checkpoint == "best.pt" else f"{name} (averaged)"
            row = f"| {label} | {args.epochs} | {seconds:.0f} | {100 * wer['test']:.1f} % | {100 * wer['dev']:.1f} % "
            table.append(row + f"| {100 * wer['test-2']:.1f} % |")
            print(table[-1], flush=True)
    print("\n".join(table))


if __name__ == "__main__":
    main()
