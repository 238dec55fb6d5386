"""Speed of the default ResCNN-BiGRU encoder with its GRUs on packed sequences vs the padded tensor.

    .venv/bin/python bench/encoder_speed.py --batch 8 --seconds 10 --repeats 3
    .venv/bin/python bench/encoder_speed.py --quick        # a tiny model, seconds

Times the encoder alone (128 log-mel features in, 29 classes out), on the CPU
unless --device says otherwise, in two passes:

- ``inference``: eval mode, no gradients, the forward pass;
- ``training``: train mode, the forward pass and the backward pass of a loss
  over the valid logits.

Both forms are exact on every valid frame (``train_rnn`` in
``plugins/rescnn_bigru.py``): ``packed`` runs the GRUs on packed sequences,
``padded`` runs each direction on the padded tensor, the backward one on each
row reversed within its length. Two batches: all rows ``--seconds`` long, and
rows spread evenly from ``--seconds / 5`` to ``--seconds`` (the padded form
also computes over the padding). Prints one JSON line per measurement: the
best wall-clock time of ``--repeats`` runs and the best process CPU time (all
threads). On a busy machine both are inflated (waiting threads spin);
``--threads 1`` gives the steadiest CPU time.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable

import torch

from asrkit.padding import valid_mask
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig

FRAMES_PER_SECOND = 100  # log_mel's 10 ms hop
QUICK = ResCNNBiGRUConfig(n_cnn_layers=1, n_rnn_layers=1, rnn_dim=32, cnn_channels=4)


def best_time(run: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
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


def inference(model: ResCNNBiGRU, form: str, features: torch.Tensor, lengths: torch.Tensor) -> None:
    with torch.no_grad():
        model.forward_padded(features, lengths) if form == "padded" else model(features, lengths)


def training(model: ResCNNBiGRU, form: str, features: torch.Tensor, lengths: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    hidden, out_lengths = model.forward_padded(features, lengths) if form == "padded" else model(features, lengths)
    valid = valid_mask(out_lengths, hidden.shape[1]).unsqueeze(-1)
    (hidden.log_softmax(-1) * valid).sum().neg().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", nargs="+", choices=("inference", "training"), default=["inference", "training"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="CI-sized: a tiny model, 2 rows of 1 s, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.seconds, args.repeats = 2, 1.0, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    # train_rnn is left at its default: the forms are chosen explicitly through forward / forward_padded.
    model = ResCNNBiGRU(QUICK if args.quick else ResCNNBiGRUConfig(), input_dim=128).to(device)
    longest = int(args.seconds * FRAMES_PER_SECOND) + 1
    batches = {
        "equal": torch.full((args.batch,), longest),
        "spread": torch.linspace(longest / 5, longest, args.batch).long(),
    }
    passes = {"inference": inference, "training": training}
    for label, lengths in batches.items():
        features = torch.randn(args.batch, longest, 128, device=device)
        lengths = lengths.to(device)
        for name in args.passes:
            model.train(name == "training")
            for form in ("packed", "padded"):
                run = functools.partial(passes[name], model, form, features, lengths)
                wall, cpu = best_time(run, args.repeats, device)
                line = {
                    "pass": name,
                    "lengths": label,
                    "gru_input": form,
                    "batch": args.batch,
                    "audio_seconds": round(float(lengths.sum()) / FRAMES_PER_SECOND, 1),
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
