"""Checkpoints: atomic writes, weights_only loading, self-contained models, random state."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from asrkit.build import build, build_model
from asrkit.engine import checkpoint, rng
from asrkit.engine.checkpoint import load_checkpoint, load_model, model_payload, save_atomic
from asrkit.errors import CheckpointError
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

TINY = Path(__file__).parent / "fixtures" / "tiny_recipe.yaml"


def test_save_atomic_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last.pt"
    save_atomic({"step": 1}, target)
    save_atomic({"step": 2}, target)
    assert torch.load(target, weights_only=True) == {"step": 2}
    assert [p.name for p in target.parent.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_previous_checkpoint_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    target = tmp_path / "last.pt"
    save_atomic({"step": 1, "weights": torch.ones(4)}, target)
    before = target.read_bytes()

    def failing_save(obj: object, file: object) -> None:
        file.write(b"PK\x03\x04 half a checkpoint")  # type: ignore[attr-defined]
        raise error

    monkeypatch.setattr(checkpoint.torch, "save", failing_save)
    expected = CheckpointError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected) as info:
        save_atomic({"step": 2}, target)
    if isinstance(error, OSError):
        assert "No space left on device" in str(info.value) and str(target) in str(info.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_load_refuses_what_is_not_a_plain_data_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable asrkit checkpoint"):
        load_checkpoint(garbage)
    code = tmp_path / "code.pt"
    torch.save({"model": {}, "recipe": {}, "format": 1, "payload": random.Random(0)}, code)
    with pytest.raises(CheckpointError, match="not a readable"):  # weights_only refuses arbitrary objects
        load_checkpoint(code)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not an asrkit checkpoint"):
        load_checkpoint(other)
    future = tmp_path / "future.pt"
    torch.save({"model": {}, "recipe": {}, "format": 99}, future)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(future)


def test_a_checkpoint_alone_rebuilds_the_same_model(tmp_path: Path) -> None:
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer).eval()
    path = tmp_path / "model.pt"
    save_atomic(model_payload(recipe.resolved(), model, tokenizer), path)
    loaded = load_model(path, registry)
    payload = loaded.checkpoint
    assert payload["asrkit_version"] and payload["recipe"] == recipe.resolved()
    waves, lengths = torch.randn(2, 8000), torch.tensor([8000, 5000])
    with torch.no_grad():
        expected, _ = model.log_probs(waves, lengths)
        got, _ = loaded.model.log_probs(waves, lengths)
    assert torch.equal(expected, got)
    assert not loaded.model.training
    assert loaded.tokenizer.labels == tokenizer.labels


def test_weights_that_do_not_fit_the_recipe_are_a_checkpoint_error(tmp_path: Path) -> None:
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    model = build_model(registry, recipe, tokenizer)
    payload = model_payload(recipe.resolved(), model, tokenizer)
    payload["recipe"]["encoder"]["rnn_dim"] = 48
    path = tmp_path / "model.pt"
    save_atomic(payload, path)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_model(path, registry)


def test_random_state_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    rng.seed_everything(11)
    torch.rand(3), random.random(), np.random.rand()
    path = tmp_path / "rng.pt"
    torch.save(rng.capture(torch.device("cpu")), path)
    expected = (torch.rand(5), [random.random() for _ in range(5)], np.random.rand(5))
    rng.seed_everything(99)
    rng.restore(torch.load(path, weights_only=True), torch.device("cpu"))
    got = (torch.rand(5), [random.random() for _ in range(5)], np.random.rand(5))
    assert torch.equal(expected[0], got[0]) and expected[1] == got[1] and np.array_equal(expected[2], got[2])
