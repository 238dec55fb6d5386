"""Forward time of the default ResCNN-BiGRU encoder, GRUs on packed vs padded sequences.

    .venv/bin/python bench/encoder_speed.py --batch 8 --seconds 10 --repeats 3

Times the encoder alone (128 log-mel features in, 29 classes out) in eval mode
without gradients, on the CPU unless --device says otherwise. Two batches: all
rows ``--seconds`` long (packing can only add overhead), and rows spread evenly
from ``--seconds / 5`` to ``--seconds`` (packing skips the padding). The
"padded" variant runs the same layers on the padded tensor, as the reference
model does; its outputs past each row's length are wrong, it is timed only.
Prints one JSON line per measurement: the best wall-clock time of ``--repeats``
runs and the best process CPU time (all threads). On a busy machine both are
inflated (waiting threads spin); ``--threads 1`` gives the steadiest CPU time.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from asrkit_plugins.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig

FRAMES_PER_SECOND = 100  # log_mel's 10 ms hop


def padded_forward(model: ResCNNBiGRU, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The model's layers with the GRUs reading the padding: ``(B, T, D)`` → ``(B, T', V)``."""
    x = model.project(model.cnn(features, lengths))
    for layer in model.rnns:
        x, _ = layer.gru(layer.activation(layer.norm(x)))
        x = layer.dropout(x)
    return model.classifier(x)


def best_time(run, repeats: int, device: torch.device) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds of ``repeats`` runs after a warm-up run."""
    walls, cpus = [], []
    for _ in range(repeats + 1):  # the first run warms up allocators and kernels
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls[1:]), min(cpus[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = ResCNNBiGRU(ResCNNBiGRUConfig(), input_dim=128, num_classes=29).to(device).eval()
    longest = int(args.seconds * FRAMES_PER_SECOND) + 1
    batches = {
        "equal": torch.full((args.batch,), longest),
        "spread": torch.linspace(longest / 5, longest, args.batch).long(),
    }
    for label, lengths in batches.items():
        features = torch.randn(args.batch, longest, 128, device=device)
        lengths = lengths.to(device)
        with torch.no_grad():
            for variant, run in (
                ("packed", lambda f=features, n=lengths: model(f, n)),
                ("padded", lambda f=features, n=lengths: padded_forward(model, f, n)),
            ):
                wall, cpu = best_time(run, args.repeats, device)
                print(
                    json.dumps(
                        {
                            "lengths": label,
                            "gru_input": variant,
                            "batch": args.batch,
                            "audio_seconds": round(float(lengths.sum()) / FRAMES_PER_SECOND, 1),
                            "forward_s": round(wall, 3),
                            "cpu_s": round(cpu, 3),
                            "device": str(device),
                            "threads": torch.get_num_threads(),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
