"""Wall time and test WER of the demo run (``asrkit run recipes/mini.yaml``) per setting, interleaved.

    .venv/bin/python bench/demo_time.py                                   # the recipe as is, against the old defaults
    .venv/bin/python bench/demo_time.py --rounds 3 --set fast "train.threads=2 train.num_workers=0"
    .venv/bin/python bench/demo_time.py --set short train.epochs=4 --no-defaults   # just one setting

Each setting is a list of recipe overrides. Every round runs each setting
once as a real ``asrkit run`` process in a fresh run directory
(:mod:`interleave`: A B A B …), timing the whole command as a user sees it
(imports, indexing, training, validation, checkpoints, the test sets); the
test WER and CER come from the run's ``results.json``. The table gives the
best and median wall time per setting and its speed-up over the first
setting from the same rounds. ``--common`` overrides go to every setting
(``--common train.epochs=4`` for a quicker, relative comparison).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from interleave import Setting, interleave, load_range, paired_speedups, summarize, value

REPO = Path(__file__).resolve().parent.parent
OLD_DEFAULTS = "encoder.train_rnn=packed train.threads=1 train.num_workers=1"
"""The demo's settings before the speed work (issue 16): packed GRU training, one thread, one loader worker."""


def one_run(recipe: str, overrides: list[str]) -> dict[str, object]:
    """Run ``asrkit run`` once in a temporary run directory; its wall time and test scores."""
    with tempfile.TemporaryDirectory(prefix="asrkit-demo-") as folder:
        out = Path(folder) / "run"
        command = [sys.executable, "-m", "asrkit", "run", recipe, *overrides, "--out", str(out), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"asrkit run failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
        results = json.loads((out / "results.json").read_text())
    test = results["test"][0]
    return {"wall_s": round(wall, 2), "test_wer": test["wer"], "test_cer": test["cer"], "overrides": overrides}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/mini.yaml")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("NAME", "OVERRIDES"))
    parser.add_argument("--no-defaults", action="store_true", help="leave out the 'old' and 'recipe' settings")
    parser.add_argument("--common", nargs="*", default=[], help="overrides for every setting")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", nargs="*", help=argparse.SUPPRESS)  # a single timed run, for interleave
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_run(args.recipe, args.one)))
        return
    named = [] if args.no_defaults else [("old", OLD_DEFAULTS), ("recipe", "")]
    named += [(name, overrides) for name, overrides in args.set]
    settings = [
        Setting(name, (sys.executable, __file__, "--recipe", args.recipe, "--one", *args.common, *overrides.split()))
        for name, overrides in named
    ]
    runs = interleave(settings, args.rounds, timeout=1800)
    summaries = summarize(runs, "wall_s", higher_is_better=False)
    first = settings[0].name
    print(f"{args.recipe} {' '.join(args.common)}: {args.rounds} interleaved rounds, load average {load_range(runs)}")
    print()
    header = f"speed-up over {first} (rounds)"
    print(f"| setting | overrides | runs | best wall s | median wall s | {header} | test WER / CER |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, overrides in named:
        summary = summaries[name]
        if summary.best is None:
            print(f"| {name} | {overrides} | 0 | {summary.errors[0]} | | | |")
            continue
        ratios = paired_speedups(runs, name, first, "wall_s", higher_is_better=False)
        scores = sorted(
            {(value(r.report, "test_wer"), value(r.report, "test_cer")) for r in runs if r.setting == name and r.report}
        )
        shown = ", ".join(f"{100 * w:.2f} % / {100 * c:.2f} %" for w, c in scores)
        speed = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
        print(
            f"| {name} | `{overrides or '(none)'}` | {summary.runs} | {summary.best:.1f} | {summary.median:.1f} "
            f"| {speed} | {shown} |"
        )


if __name__ == "__main__":
    main()
