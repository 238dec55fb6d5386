"""Distributed training: rank helpers, and 2 CPU processes under a real torchrun (gloo) matching one process.

Both runs see the same global batches (``tests/fixtures/tiny_same_batches.yaml``:
a fixed longest-first batch order, no randomness, plain SGD): 2 utterances per
rank against 4 in the single process. The loss is normalized by the global
utterance count, so DDP's gradient average equals the single process's batch
mean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit.cli import main
from asrkit.engine.distributed import World, main_first, torchrun_command, world_from_env

ROOT = Path(__file__).resolve().parent.parent
SAME_BATCHES = "tests/fixtures/tiny_same_batches.yaml"


def test_the_world_comes_from_torchrun_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert world_from_env() == World(0, 1, 0) and world_from_env().is_main and not world_from_env().distributed
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    world = world_from_env()
    assert world == World(3, 4, 1) and not world.is_main and world.distributed


def test_main_first_runs_the_block_once_per_process_without_a_group() -> None:
    ran = []
    with main_first(World()):
        ran.append(1)
    assert ran == [1]


def test_nproc_re_runs_the_command_under_torchrun() -> None:
    command = torchrun_command(2, ["run", "r.yaml", "train.epochs=1", "--out", "x"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in command and "--standalone" in command
    assert command[-6:] == ["asrkit", "run", "r.yaml", "train.epochs=1", "--out", "x"]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_with_the_same_global_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "ASRKIT_CACHE_DIR": str(tmp_path / "cache")}
    ddp = tmp_path / "ddp"
    first = [sys.executable, "-m", "asrkit", "run", SAME_BATCHES, "--quiet", "--out", str(ddp)]
    # Epoch 1 on 2 processes, then epoch 2 resumed on 2 processes: DDP and --resume under DDP.
    for extra in (["train.epochs=1", "--nproc", "2"], ["train.epochs=2", "--nproc", "2", "--resume"]):
        done = subprocess.run([*first, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    monkeypatch.chdir(ROOT)
    single = tmp_path / "single"
    result = CliRunner().invoke(
        main, ["run", SAME_BATCHES, "train.batch.max_utterances=4", "train.epochs=2", "--quiet", "--out", str(single)]
    )
    assert result.exit_code == 0, result.output

    records = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    # 8 utterances, 4 per global batch, 2 epochs: 4 steps, each logged once (only rank 0 writes).
    assert [r["step"] for r in records if "train/loss" in r] == [1, 2, 3, 4]
    expected, got = weights(single), weights(ddp)
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    # Validation was sharded over the ranks without repeating an utterance and reduced to corpus-level counts.
    valid = [json.loads((d / "results.json").read_text())["valid"][0] for d in (single, ddp)]
    assert valid[0]["utterances"] == valid[1]["utterances"] == 8
    assert valid[0]["wer"] == pytest.approx(valid[1]["wer"]) and valid[0]["cer"] == pytest.approx(valid[1]["cer"])
