"""A failed resume touches nothing; checkpoint errors say what is wrong without unsafe advice."""

from __future__ import annotations

import fractions
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from asrkit.build import build, build_model
from asrkit.cli import main
from asrkit.engine.checkpoint import load_checkpoint, load_model, model_payload, remove_stale_temporaries, save_atomic
from asrkit.engine.resume import changed_keys, check_resumable
from asrkit.engine.trainer import check_finite
from asrkit.errors import CheckpointError, TrainingError
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny_recipe.yaml"


@pytest.fixture(scope="module")
def payload() -> dict:
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    model = build_model(registry, recipe, tokenizer)
    return model_payload(recipe.resolved(), model, tokenizer)


def interrupted_run(tmp_path: Path, payload: dict) -> Path:
    """A run directory as a killed run leaves it: recipe.yaml, last.pt and a half-written temporary."""
    run_dir = tmp_path / "run"
    save_atomic({**payload, "training": {}}, run_dir / "checkpoints" / "last.pt")
    (run_dir / "recipe.yaml").write_text("# the run's own recipe\n")
    (run_dir / "checkpoints" / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    return run_dir


def test_resume_with_a_changed_model_is_refused_before_anything_is_written(
    tmp_path: Path, payload: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    run_dir = interrupted_run(tmp_path, payload)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = CliRunner().invoke(
        main, ["run", str(TINY), "encoder.rnn_dim=64", "features.n_mels=40", "--resume", "--out", str(run_dir)]
    )
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert "the recipe's model differs" in message
    assert "features.n_mels (32 -> 40)" in message and "encoder.rnn_dim (32 -> 64)" in message
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_only_model_and_plan_changes_are_refused(payload: dict) -> None:
    saved = payload["recipe"]
    requested = {**saved, "loggers": [], "decoder": {"name": "beam"}}
    check_resumable(saved, requested, "last.pt")  # loggers and decoder may change
    with pytest.raises(CheckpointError, match=r"augmenters\[0\].freq_mask_width \(4 -> 8\)"):
        augment = [{**saved["augmenters"][0], "freq_mask_width": 8}]
        check_resumable(saved, {**saved, "augmenters": augment}, "last.pt")
    with pytest.raises(CheckpointError, match=r"train.seed \(3, not 4\)"):
        check_resumable(saved, {**saved, "train": {**saved["train"], "seed": 4}}, "last.pt")
    assert changed_keys({"a": 1}, {"b": 2}, "x") == ["x.a (1 -> absent)"]  # b: new since the checkpoint
    older = {key: value for key, value in saved.items() if key != "objective"}  # written before objectives existed
    check_resumable(older, saved, "last.pt")


def test_stale_checkpoint_temporaries_are_removed_at_start(tmp_path: Path, payload: dict) -> None:
    run_dir = interrupted_run(tmp_path, payload)
    assert remove_stale_temporaries(run_dir / "checkpoints") == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.pt"]
    assert remove_stale_temporaries(tmp_path / "absent") == 0


def test_a_checkpoint_with_foreign_objects_gets_no_advice_to_load_it_unsafely(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"model": {}, "recipe": {}, "format": 1, "x": fractions.Fraction(1, 2)}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "weights_only" not in message and "will likely succeed" not in message
    assert "holds a Python object (fractions.Fraction)" in message and "written by something else" in message
    assert "\n" not in message


def test_weights_that_do_not_fit_name_the_first_keys_and_shapes(tmp_path: Path, payload: dict) -> None:
    changed = {**payload, "recipe": {**payload["recipe"], "encoder": {**payload["recipe"]["encoder"], "rnn_dim": 48}}}
    path = tmp_path / "model.pt"
    save_atomic(changed, path)
    with pytest.raises(CheckpointError) as caught:
        load_model(path, load_registry())
    message = str(caught.value)
    assert "\n" not in message and "do not fit the model" in message
    assert "in the file" in message and "in the model" in message and "more" in message


def test_non_finite_weights_do_not_claim_a_checkpoint_that_does_not_exist(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(float("inf"))
    step, report = SimpleNamespace(model=model), SimpleNamespace(checkpoint_dir=tmp_path)
    with pytest.raises(TrainingError) as caught:
        check_finite(step, report, SimpleNamespace(step=3))
    assert "no checkpoint was saved yet" in str(caught.value) and "is kept" not in str(caught.value)
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(TrainingError, match=r"the last good checkpoint is .*last\.pt"):
        check_finite(step, report, SimpleNamespace(step=3))
