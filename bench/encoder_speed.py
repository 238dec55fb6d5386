"""Speed of the ResCNN-BiGRU encoder with its GRUs packed, padded and fused (``train_rnn``), interleaved.

    .venv/bin/python bench/encoder_speed.py --batch 8 --seconds 10 --rounds 3
    .venv/bin/python bench/encoder_speed.py --quick        # a tiny model, seconds

Times the encoder alone (128 log-mel features in, 29 classes out), on the CPU
unless --device says otherwise, in two passes:

- ``inference``: eval mode, no gradients, the forward pass;
- ``training``: train mode, the forward pass and the backward pass of a loss
  over the valid logits.

The forms are exact on every valid frame (``train_rnn`` in
``plugins/asrkit_plugins/encoders/rescnn_bigru.py``): ``packed`` runs the
GRUs on packed sequences, ``padded`` runs each direction on the padded
tensor, the backward one on each row reversed within its length, and
``fused`` runs the padded form through asrkit's own recurrence
(``fused_bigru.py``). Two batches: all rows ``--seconds`` long, and rows
spread evenly from ``--seconds / 5`` to ``--seconds`` (the padded forms
also compute over the padding). Each form runs in its own process,
``--rounds`` times, the forms in turn (:mod:`interleave`); each process
reports the best wall-clock time of ``--repeats`` runs after a warm-up run.
Prints one JSON line per pass and batch: per form the best and median over
the rounds, and how many times faster each form is than packed, round by
round.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from collections.abc import Callable

import torch
from interleave import Setting, interleave, load_range, paired_speedups, summarize

from asrkit.padding import valid_mask
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig

FRAMES_PER_SECOND = 100  # log_mel's 10 ms hop
QUICK = ResCNNBiGRUConfig(n_cnn_layers=1, n_rnn_layers=1, rnn_dim=32, cnn_channels=4)
FORMS = ("packed", "padded", "fused")


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


def run_form(
    model: ResCNNBiGRU, form: str, features: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's forward pass with its GRUs in ``form``, in train or eval mode as the model is."""
    if form == "packed":
        return model(features, lengths)
    return model.forward_padded(features, lengths, fused=form == "fused")


def inference(model: ResCNNBiGRU, form: str, features: torch.Tensor, lengths: torch.Tensor) -> None:
    with torch.no_grad():
        run_form(model, form, features, lengths)


def training(model: ResCNNBiGRU, form: str, features: torch.Tensor, lengths: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    hidden, out_lengths = run_form(model, form, features, lengths)
    valid = valid_mask(out_lengths, hidden.shape[1]).unsqueeze(-1)
    (hidden.log_softmax(-1) * valid).sum().neg().backward()


def measure_form(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """In this process: ``{pass: {batch: best wall seconds}}`` for the GRU form ``args.form``."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    # packed: train_rnn fixed so that training mode does not pick another form; the others are called directly.
    config = dataclasses.replace(QUICK if args.quick else ResCNNBiGRUConfig(), train_rnn="packed")
    model = ResCNNBiGRU(config, input_dim=128).to(device)
    longest = int(args.seconds * FRAMES_PER_SECOND) + 1
    batches = {
        "equal": torch.full((args.batch,), longest),
        "spread": torch.linspace(longest / 5, longest, args.batch).long(),
    }
    passes = {"inference": inference, "training": training}
    figures: dict[str, dict[str, float]] = {name: {} for name in args.passes}
    for label, lengths in batches.items():
        features = torch.randn(args.batch, longest, 128, device=device)
        for name in args.passes:
            model.train(name == "training")
            run = functools.partial(passes[name], model, args.form, features, lengths.to(device))
            figures[name][label] = round(best_time(run, args.repeats, device)[0], 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per process, after a warm-up run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved processes per form")
    parser.add_argument("--passes", nargs="+", choices=("inference", "training"), default=["inference", "training"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    parser.add_argument("--form", choices=FORMS, help=argparse.SUPPRESS)  # one process's form, for interleave
    parser.add_argument("--quick", action="store_true", help="CI-sized: a tiny model, 2 rows of 1 s, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.seconds, args.repeats, args.rounds = 2, 1.0, 1, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.form:
        print(json.dumps({"threads": torch.get_num_threads(), **measure_form(args)}))
        return
    forwarded = [a for a in sys.argv[1:] if a != "--form"]
    settings = [Setting(form, (sys.executable, __file__, *forwarded, "--form", form)) for form in FORMS]
    runs = interleave(settings, args.rounds, timeout=1800)
    for name in args.passes:
        for label in ("equal", "spread"):
            path = f"{name}.{label}"
            summaries = summarize(runs, path, higher_is_better=False)
            ratios = {form: paired_speedups(runs, form, "packed", path, higher_is_better=False) for form in FORMS[1:]}
            line = {
                "pass": name,
                "lengths": label,
                "batch": args.batch,
                "seconds": args.seconds,
                "device": args.device,
                "threads": next((r.report["threads"] for r in runs if r.report), None),
                "rounds": len(ratios["padded"]),
                **{f"{form}_best_s": summaries[form].best for form in FORMS},
                **{f"{form}_median_s": round(summaries[form].median or 0.0, 4) for form in FORMS},
                **{f"{form}_speedup_by_round": [round(r, 3) for r in ratios[form]] for form in FORMS[1:]},
                "load_average": load_range(runs),
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
