"""Non-finite losses: a bad batch is skipped and counted; a run of them stops training cleanly.

The NaN comes from a throwaway encoder plugin (registered for the test only) whose
logits are NaN on chosen training batches; the run is in-process, so the
plugin is visible to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from fake_components import LinearEncoder

from asrkit import hookimpl
from asrkit.cli import main
from asrkit.config import param

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/fixtures/tiny_recipe.yaml"


class NanOnCall(LinearEncoder):
    """A per-frame linear encoder whose outputs are NaN on chosen training forward calls."""

    name = "nan_on_call"

    @dataclass(frozen=True)
    class Config:
        calls: tuple[int, ...] = param((), help="training forward calls (counted from 1) that return NaN")
        from_call: int | None = param(None, help="every training forward call from this one on returns NaN")

    def __init__(self, config: Config, input_dim: int) -> None:
        super().__init__(LinearEncoder.Config(), input_dim)
        self.nan_config = config
        self.training_calls = 0

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, lengths = super().forward(features, lengths)
        if self.training:
            self.training_calls += 1
            late = self.nan_config.from_call is not None and self.training_calls >= self.nan_config.from_call
            if self.training_calls in self.nan_config.calls or late:
                logits = logits * float("nan")
        return logits, lengths


class NanPlugin:
    @hookimpl
    def asrkit_register_encoders(self) -> list[type]:
        return [NanOnCall]


@pytest.fixture
def run_tiny(asrkit_register_plugin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    asrkit_register_plugin(NanPlugin(), name="nan-plugin")
    monkeypatch.chdir(ROOT)

    def run(*overrides: str):
        return CliRunner().invoke(main, ["run", TINY, *overrides, "--out", str(tmp_path / "run"), "--quiet"])

    return run


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_non_finite_batch_is_skipped_and_counted(run_tiny, tmp_path: Path) -> None:
    result = run_tiny("encoder={name: nan_on_call, calls: [2]}", "train.batch.max_utterances=2")
    assert result.exit_code == 0, result.output
    records = metrics(tmp_path / "run")
    steps = [r for r in records if "train/loss" in r]
    # Four batches, the second one NaN: three optimizer steps, every logged loss finite.
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["train/loss"] is not None for r in steps)
    assert [r["train/nonfinite_batches"] for r in steps] == [0, 1, 1]
    [epoch] = [r for r in records if "epoch/nonfinite_batches" in r]
    assert epoch["epoch/nonfinite_batches"] == 1
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["training"]["state"]
    assert state["nonfinite_total"] == 1 and state["nonfinite_streak"] == 0


def test_repeated_non_finite_losses_stop_the_run_and_keep_the_last_good_checkpoint(
    run_tiny,
    tmp_path: Path,
) -> None:
    result = run_tiny(
        "encoder={name: nan_on_call, from_call: 3}",
        "train.batch.max_utterances=1",
        "train.max_nonfinite=3",
        "train.checkpoint_every_steps=1",
    )
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert "3 consecutive non-finite losses" in errors[0] and "after step 2" in errors[0]
    assert str(tmp_path / "run" / "checkpoints" / "last.pt") in result.output.replace("\n", "")
    checkpoints = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.pt"]  # no best.pt: no epoch ended
    last = torch.load(checkpoints / "last.pt", weights_only=True)
    assert last["training"]["state"]["step"] == 2
    assert all(torch.isfinite(tensor).all() for tensor in last["model"].values())
