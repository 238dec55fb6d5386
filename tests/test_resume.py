"""``--resume`` after a SIGKILL mid-epoch continues exactly: the same per-step losses and weights on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Two epochs of 8 single-utterance batches; SpecAugment and dropout stay on (random state to restore),
# a DataLoader worker reads the audio, and last.pt is saved every 2 steps.
RUN = [
    "tests/fixtures/tiny_recipe.yaml",
    "train.epochs=2",
    "train.batch.max_utterances=1",
    "train.num_workers=1",
    "train.checkpoint_every_steps=2",
    "data.test=[]",
    "--quiet",
]


def asrkit(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ASRKIT_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "asrkit", "run", *RUN, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output


def losses(run_dir: Path) -> dict[int, float]:
    """The last loss logged for each step (a resumed run logs again the steps after its checkpoint)."""
    by_step = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "train/loss" in record:
            by_step[record["step"]] = record["train/loss"]
    return by_step


def test_resume_after_sigkill_reproduces_the_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = tmp_path / "straight"
    finish(asrkit(tmp_path, "--out", str(straight)))

    resumed = tmp_path / "resumed"
    last = resumed / "checkpoints" / "last.pt"
    process = asrkit(tmp_path, "--out", str(resumed))
    deadline = time.monotonic() + 240
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    state = torch.load(last, weights_only=True)["training"]["state"]
    assert state["epoch"] == 0 and 0 < state["batches_done"] < 8, "the kill must land mid-epoch"
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]

    finish(asrkit(tmp_path, "--out", str(resumed), "--resume"))
    expected, got = losses(straight), losses(resumed)
    assert sorted(expected) == list(range(1, 17))
    assert got == expected  # exactly, step by step
    final = [torch.load(d / "checkpoints" / "last.pt", weights_only=True) for d in (straight, resumed)]
    for name, tensor in final[0]["model"].items():
        assert torch.equal(tensor, final[1]["model"][name]), name
    assert final[0]["metrics"] == final[1]["metrics"]

    monkeypatch.chdir(ROOT)
    longer = CliRunner().invoke(main, ["run", *RUN, "train.epochs=3", "--out", str(straight), "--resume"])
    assert longer.exit_code == 1, longer.output
    assert "--resume needs the interrupted run's train.epochs (2, not 3)" in longer.output


def test_resume_needs_a_run_and_a_fresh_run_refuses_to_overwrite_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    missing = CliRunner().invoke(main, ["run", *RUN, "--out", str(tmp_path / "nothing"), "--resume"])
    assert missing.exit_code == 1 and "no checkpoint at" in missing.output
    no_out = CliRunner().invoke(main, ["run", *RUN, "--resume"])
    assert no_out.exit_code == 1 and "--resume needs --out" in no_out.output
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"x")
    again = CliRunner().invoke(main, ["run", *RUN, "--out", str(run_dir)])
    assert again.exit_code == 1 and "already holds a run" in again.output and "--resume" in again.output
