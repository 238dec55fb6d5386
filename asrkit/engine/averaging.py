"""Checkpoint averaging: keep the N best epochs by validation WER, and average model weights.

With ``train.average_best: N`` a run keeps the model of each of its N best
epochs (first validation set's WER; ties go to the later epoch) in
``checkpoints/top/epoch-NNNN.pt``, listed with their WER in
``checkpoints/top/top.json``, and at the end writes their average to
``checkpoints/averaged.pt`` and scores it beside ``best.pt``. Averaging the
weights of the last good epochs of one run (Vaswani et al., 2017; ESPnet's
``average_nbest``, icefall's ``--avg``) usually gives a point or so of WER for
free. ``asrkit average CKPT... --out FILE`` averages any checkpoints of one
recipe.

The list lives on disk, not in the training state, so ``--resume`` picks it up
as it is; an epoch repeated after an interruption replaces its own entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from asrkit.engine.checkpoint import load_checkpoint, save_atomic
from asrkit.errors import CheckpointError
from asrkit.files import write_atomic

TOP_DIR = "top"
INDEX = "top.json"
AVERAGED = "averaged.pt"


def read_index(folder: Path) -> list[dict[str, Any]]:
    """The kept epochs, best first: ``[{"epoch": 7, "wer": 0.12, "file": "epoch-0007.pt"}, ...]``."""
    path = folder / INDEX
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def keep_if_among_best(
    checkpoint_dir: Path, keep: int, epoch: int, wer: float, payload: Callable[[], dict[str, Any]]
) -> bool:
    """Save ``payload()`` as epoch ``epoch`` when its WER is among the ``keep`` best; drop the one it displaces."""
    if keep < 1 or not math.isfinite(wer):
        return False
    folder = checkpoint_dir / TOP_DIR
    entries = [e for e in read_index(folder) if e["epoch"] != epoch]
    entry = {"epoch": epoch, "wer": wer, "file": f"epoch-{epoch:04d}.pt"}
    ranked = sorted([*entries, entry], key=lambda e: (e["wer"], -e["epoch"]))
    kept, dropped = ranked[:keep], ranked[keep:]
    if entry in kept:
        save_atomic(payload(), folder / entry["file"])
    write_atomic(folder / INDEX, json.dumps(kept, indent=2) + "\n")
    for old in dropped:
        if old is not entry:
            (folder / old["file"]).unlink(missing_ok=True)
    return entry in kept


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors (in float64); other tensors (counters) from the last state."""
    averaged = {}
    for name, last in states[-1].items():
        if last.is_floating_point():
            total = sum(state[name].double() for state in states)
            averaged[name] = (total / len(states)).to(last.dtype)
        else:
            averaged[name] = last.clone()
    return averaged


def average_checkpoints(paths: Sequence[Path]) -> dict[str, Any]:
    """A checkpoint payload whose model is the average of ``paths``' models (same recipe model required)."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    payloads = [load_checkpoint(path) for path in paths]
    first = payloads[0]
    shapes = {name: tuple(t.shape) for name, t in first["model"].items()}
    for path, payload in zip(paths[1:], payloads[1:], strict=True):
        if payload.get("format") != first.get("format"):
            raise CheckpointError(
                f"{path} has checkpoint format {payload.get('format')}, {paths[0]} format {first.get('format')}: "
                "average checkpoints written by one asrkit"
            )
        theirs = {name: tuple(t.shape) for name, t in payload["model"].items()}
        if theirs != shapes:
            different = sorted(set(shapes.items()) ^ set(theirs.items()))[0][0]
            raise CheckpointError(f"{path} has another model than {paths[0]} (e.g. '{different}'): cannot average them")
        if not same_state(payload.get("tokenizer"), first.get("tokenizer")):
            raise CheckpointError(f"{path} has another vocabulary than {paths[0]}: cannot average them")
    return {
        "format": first["format"],
        "asrkit_version": first.get("asrkit_version"),
        "recipe": first["recipe"],
        "model": average_state_dicts([payload["model"] for payload in payloads]),
        "tokenizer": first.get("tokenizer", {}),
        "step": max(int(payload.get("step", 0) or 0) for payload in payloads),
        "metrics": {"averaged_from": [str(path) for path in paths]},
    }


def same_state(a: Any, b: Any) -> bool:
    """Equality of nested dicts, lists and tensors (a learnt tokenizer's state holds tensors)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def write_average(paths: Sequence[Path], out: Path) -> Path:
    save_atomic(average_checkpoints(paths), out)
    return out


def average_run(checkpoint_dir: Path) -> Path | None:
    """Average the kept epochs of a run into ``checkpoints/averaged.pt``; None when none were kept."""
    folder = checkpoint_dir / TOP_DIR
    files = [folder / entry["file"] for entry in read_index(folder)]
    files = [path for path in files if path.is_file()]
    return write_average(files, checkpoint_dir / AVERAGED) if files else None
