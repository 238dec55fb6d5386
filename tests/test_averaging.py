"""Checkpoint averaging: the N best epochs kept, their mean written and scored, ``asrkit average``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit.cli import main
from asrkit.engine.averaging import average_state_dicts, keep_if_among_best, read_index
from asrkit.engine.checkpoint import load_checkpoint, load_model
from asrkit.errors import CheckpointError
from asrkit.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
TINY = "tests/fixtures/tiny_recipe.yaml"


def test_mean_of_floats_and_last_of_counters() -> None:
    states = [
        {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)},
        {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5)},
    ]
    averaged = average_state_dicts(states)
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0])) and int(averaged["n"]) == 5


def test_keeps_the_n_best_epochs_and_deletes_the_rest(tmp_path: Path) -> None:
    for epoch, wer in [(1, 0.9), (2, 0.5), (3, 0.7), (4, 0.5), (5, 0.95), (3, 0.4)]:  # epoch 3 repeated (resume)
        keep_if_among_best(tmp_path, 2, epoch, wer, lambda e=epoch: {"epoch": torch.tensor(e)})
    index = read_index(tmp_path / "top")
    assert [(e["epoch"], e["wer"]) for e in index] == [(3, 0.4), (4, 0.5)]  # ties go to the later epoch
    assert sorted(p.name for p in (tmp_path / "top").glob("*.pt")) == ["epoch-0003.pt", "epoch-0004.pt"]
    assert not keep_if_among_best(tmp_path, 2, 6, float("nan"), dict)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("avg") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        overrides = ["train.epochs=4", "train.average_best=3", "train.schedule.name=constant", "train.ema_decay=0.9"]
        result = CliRunner().invoke(main, ["run", TINY, *overrides, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_a_run_averages_its_best_epochs_and_reports_both(run_dir: Path) -> None:
    index = read_index(run_dir / "checkpoints" / "top")
    assert len(index) == 3 and all((run_dir / "checkpoints" / "top" / e["file"]).is_file() for e in index)
    results = json.loads((run_dir / "results.json").read_text())
    assert {"valid", "test", "valid_averaged", "test_averaged"} <= set(results)
    assert [r["set"] for r in results["test_averaged"]] == [r["set"] for r in results["test"]]
    assert (run_dir / "test-clean-averaged.greedy.hyp.jsonl").is_file()
    averaged = load_checkpoint(run_dir / "checkpoints" / "averaged.pt")
    kept = [load_checkpoint(run_dir / "checkpoints" / "top" / e["file"])["model"] for e in index]
    name = next(n for n, t in averaged["model"].items() if t.is_floating_point() and t.dim() == 2)
    torch.testing.assert_close(averaged["model"][name], sum(k[name] for k in kept) / 3)
    load_model(run_dir / "checkpoints" / "averaged.pt", load_registry())  # loads like any checkpoint


@pytest.mark.slow
def test_a_run_keeps_an_ema_of_its_weights_and_reports_it(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    assert {"valid_ema", "test_ema"} <= set(results)
    assert (run_dir / "test-clean-ema.greedy.hyp.jsonl").is_file()
    ema = load_checkpoint(run_dir / "checkpoints" / "ema.pt")["model"]
    last = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert ema.keys() == last["model"].keys()
    assert any(not torch.equal(ema[k], last["model"][k]) for k in ema if ema[k].is_floating_point())
    assert last["training"]["ema"]["n_averaged"] > 0  # --resume continues it


def test_ema_update_rule() -> None:
    from asrkit.engine.ema import ema_weights, make_ema

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, 0.0)
    ema = make_ema(model, 0.5)
    for value in (4.0, 8.0):
        torch.nn.init.constant_(model.weight, value)
        ema.update_parameters(model)
    # the first update copies; then 0.5 * 4 + 0.5 * 8
    assert float(ema_weights(ema)["weight"]) == 6.0
    assert make_ema(model, None) is None


@pytest.mark.slow
def test_average_command(run_dir: Path, tmp_path: Path) -> None:
    top = sorted((run_dir / "checkpoints" / "top").glob("*.pt"))
    out = tmp_path / "avg.pt"
    result = CliRunner().invoke(main, ["average", *map(str, top[:2]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out)["metrics"]["averaged_from"] == [str(p) for p in top[:2]]
    result = CliRunner().invoke(main, ["evaluate", str(out), "--out", str(tmp_path / "eval"), "--num-workers", "0"])
    assert result.exit_code == 0, result.output


def test_average_refuses_different_models(tmp_path: Path) -> None:
    from asrkit.engine.averaging import average_checkpoints
    from asrkit.engine.checkpoint import save_atomic

    base = {"format": 1, "recipe": {}, "tokenizer": {}}
    save_atomic({**base, "model": {"w": torch.zeros(2, 2)}}, tmp_path / "a.pt")
    save_atomic({**base, "model": {"w": torch.zeros(3, 2)}}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="another model"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    for name, model in (("c.pt", torch.zeros(1)), ("d.pt", torch.ones(1))):  # a learnt vocabulary holds tensors
        save_atomic({**base, "model": {"w": torch.zeros(2, 2)}, "tokenizer": {"model": model}}, tmp_path / name)
    with pytest.raises(CheckpointError, match="another vocabulary"):
        average_checkpoints([tmp_path / "c.pt", tmp_path / "d.pt"])
    assert average_checkpoints([tmp_path / "c.pt", tmp_path / "c.pt"])["tokenizer"]["model"].shape == (1,)
    result = CliRunner().invoke(main, ["average", str(tmp_path / "a.pt"), str(tmp_path / "nope.pt"), "--out", "x.pt"])
    assert result.exit_code == 1 and "no checkpoint at" in result.output
