"""Fine-tuning: ``train.init_from`` copies weights (the output layer re-initialised on new labels), ``train.freeze``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit.build import build, build_model
from asrkit.cli import main
from asrkit.engine.finetune import freeze_for_steps, frozen_parameters, initialize_from
from asrkit.errors import CheckpointError, RecipeError
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny_recipe.yaml"


def fresh_model(*overrides: str) -> tuple[torch.nn.Module, object]:
    registry = load_registry()
    recipe = load_recipe(TINY, list(overrides), registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(123)  # other weights than the checkpoint's
    return build_model(registry, recipe, tokenizer), tokenizer


def source_state(path: Path) -> dict[str, torch.Tensor]:
    from asrkit.engine.checkpoint import load_model

    return load_model(path, load_registry()).model.state_dict()


def test_same_labels_copy_every_weight(random_checkpoint: Path) -> None:
    model, tokenizer = fresh_model()
    message = initialize_from(str(random_checkpoint), model, tokenizer, load_registry())
    assert message.endswith("all weights copied")
    theirs = source_state(random_checkpoint)
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())


def test_new_labels_reinitialise_only_the_output_layer(random_checkpoint: Path) -> None:
    model, tokenizer = fresh_model("tokenizer.alphabet=' abcdefghij'")
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("objective.")}
    message = initialize_from(str(random_checkpoint), model, tokenizer, load_registry())
    assert "labels differ from the checkpoint's (29 classes there, 12 here)" in message and "re-initialised" in message
    theirs = source_state(random_checkpoint)
    for key, value in model.state_dict().items():
        if key.startswith("objective."):
            assert torch.equal(value, before[key])
        else:
            assert torch.equal(value, theirs[key]), key


def test_another_architecture_is_refused_in_one_line(random_checkpoint: Path) -> None:
    model, tokenizer = fresh_model("encoder.rnn_dim=48")
    with pytest.raises(CheckpointError, match=r"has another architecture: encoder\.\S+ is shaped") as error:
        initialize_from(str(random_checkpoint), model, tokenizer, load_registry())
    assert "\n" not in str(error.value)


def test_frozen_parts_do_not_move_for_the_first_steps() -> None:
    model, _ = fresh_model()
    frozen = frozen_parameters(model, ["encoder"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    freeze_for_steps(optimizer, frozen, steps=2)
    start = [p.detach().clone() for p in frozen]
    head = [p for p in model.objective.parameters()]
    head_start = [p.detach().clone() for p in head]
    for step in range(3):
        for parameter in model.parameters():
            parameter.grad = torch.ones_like(parameter)
        optimizer.step()
        moved = any(not torch.equal(p, s) for p, s in zip(frozen, start, strict=True))
        assert moved == (step == 2), step  # unchanged for 2 steps, then trained
    assert all(not torch.equal(p, s) for p, s in zip(head, head_start, strict=True))


def test_an_unknown_part_names_the_parts() -> None:
    model, _ = fresh_model()
    with pytest.raises(RecipeError, match=r"train.freeze: no part named 'encoderr' \(parts: .*encoder"):
        frozen_parameters(model, ["encoderr"])


@pytest.mark.slow
def test_a_run_fine_tunes_on_a_new_alphabet(random_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    overrides = [
        f"train.init_from={random_checkpoint}",
        "tokenizer.alphabet=' abcdefghijklmnopqrstuvwxyz'",  # no apostrophe: other labels
        "train.freeze=[encoder]",
        "train.freeze_steps=2",
    ]
    result = CliRunner().invoke(main, ["run", str(TINY), *overrides, "--out", str(tmp_path / "ft"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "the output layer" in result.output and "re-initialised" in result.output
    assert (tmp_path / "ft" / "checkpoints" / "best.pt").is_file()
