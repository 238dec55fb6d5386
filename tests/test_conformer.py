"""The ``conformer`` encoder: contract, padding exactness in both modes, ONNX export and int8 quantization."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from asrkit.build import build, build_model
from asrkit.engine.checkpoint import model_payload, save_atomic
from asrkit.export import TOLERANCE, export_checkpoint, run_exported
from asrkit.quantize import is_quantized, quantize_for_cpu
from asrkit.recipe import parse_recipe, read_yaml
from asrkit.registry import load_registry
from asrkit.testing import check_component
from asrkit_plugins.encoders.conformer import Conformer, ConformerConfig

TINY = Path(__file__).parent / "fixtures" / "tiny_recipe.yaml"
SMALL = ConformerConfig(d_model=32, num_layers=2, num_heads=2, conv_kernel=7, subsampling_channels=8)


def padded(lengths: list[int], dim: int = 20, seed: int = 0, padding: float | None = 0.0) -> tuple[torch.Tensor, ...]:
    x = torch.randn(len(lengths), max(lengths), dim, generator=torch.Generator().manual_seed(seed))
    counts = torch.tensor(lengths)
    if padding is not None:
        x = x.masked_fill((torch.arange(max(lengths)) >= counts.unsqueeze(1)).unsqueeze(-1), padding)
    return x, counts


def test_contract_default_and_small_sizes() -> None:
    check_component("encoders", Conformer)
    check_component("encoders", Conformer, SMALL)
    check_component("encoders", Conformer, ConformerConfig(d_model=16, num_layers=1, num_heads=1, subsampling=8))


def test_body_returns_hidden_features_zero_past_lengths() -> None:
    body = Conformer(SMALL, input_dim=20).eval()
    x, lengths = padded([64, 37, 5])
    hidden, out_lengths = body(x, lengths)
    assert body.output_dim == 32 and body.subsampling == 4
    assert out_lengths.tolist() == [16, 10, 2] == body.output_lengths(lengths).tolist()
    assert hidden.shape == (3, 16, 32)
    assert torch.all(hidden[1, 10:] == 0) and torch.all(hidden[2, 2:] == 0) and hidden[2, :2].abs().sum() > 0


def test_intermediate_layer_outputs_for_intermediate_ctc() -> None:
    body = Conformer(SMALL, input_dim=20).eval()
    x, lengths = padded([64, 37])
    hidden, out_lengths, layers = body.forward_intermediate(x, lengths, (1, 2))
    assert body.num_layers == 2 and body.layer_dim(1) == 32 and set(layers) == {1, 2}
    torch.testing.assert_close(layers[2], hidden)  # the last block's output is the final hidden features
    assert torch.all(layers[1][1, int(out_lengths[1]) :] == 0) and not torch.equal(layers[1], hidden)
    torch.testing.assert_close(body(x, lengths)[0], hidden)
    with pytest.raises(ValueError, match="layers 1 to 2"):
        body.forward_intermediate(x, lengths, (3,))


@pytest.mark.parametrize("subsampling", [2, 4, 8])
def test_valid_frames_unchanged_by_padding_in_eval_and_train_mode(subsampling: int) -> None:
    """Alone vs. in a batch with noise as padding; in training mode without dropout (its masks differ by shape)."""
    config = ConformerConfig(
        d_model=32, num_layers=2, num_heads=2, conv_kernel=7, subsampling_channels=8, subsampling=subsampling, dropout=0
    )
    torch.manual_seed(0)
    body = Conformer(config, input_dim=20)
    x, lengths = padded([71, 40, 9], padding=None)
    for mode in (True, False):
        body.train(mode)
        batched, out_lengths = body(x, lengths)
        for row in range(3):
            alone, alone_lengths = body(x[row : row + 1, : lengths[row]], lengths[row : row + 1])
            n = int(alone_lengths[0])
            assert n == int(out_lengths[row])
            torch.testing.assert_close(batched[row, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_training_mode_with_dropout_ignores_what_the_padding_holds() -> None:
    torch.manual_seed(0)
    body = Conformer(SMALL, input_dim=20).train()
    zeros, lengths = padded([64, 30], padding=0.0)
    noise, _ = padded([64, 30], padding=None)
    torch.manual_seed(1)
    first, out_lengths = body(zeros, lengths)
    torch.manual_seed(1)
    second, _ = body(noise, lengths)  # same shape, so the same dropout masks
    n = int(out_lengths[1])
    torch.testing.assert_close(first[1, :n], second[1, :n])
    # and gradients flow from valid frames only into valid inputs
    noise.requires_grad_(True)
    out, _ = body(noise, lengths)
    out[1, :n].sum().backward()
    assert noise.grad[1, 30:].abs().sum() == 0 and noise.grad[1, :30].abs().sum() > 0


@pytest.mark.parametrize(
    "changes",
    [{"d_model": 30, "num_heads": 4}, {"num_heads": 0}, {"conv_kernel": 8}, {"subsampling": 3}, {"dropout": 1.0}],
)
def test_config_refuses_impossible_sizes(changes: dict) -> None:
    with pytest.raises(ValueError):
        ConformerConfig(**changes)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny recipe with a small conformer, random weights, its head scaled up so that outputs are peaked."""
    registry = load_registry()
    data = read_yaml(TINY)
    data["encoder"] = {"name": "conformer", "d_model": 32, "num_layers": 2, "num_heads": 2, "conv_kernel": 7}
    recipe = parse_recipe(data, registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer)
    with torch.no_grad():
        model.objective.head.weight.mul_(20.0)
    path = tmp_path_factory.mktemp("conformer") / "tiny.pt"
    save_atomic(model_payload(recipe.resolved(), model, tokenizer), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_on_shapes_it_was_not_traced_with(checkpoint: Path, tmp_path: Path, fmt: str) -> None:
    from asrkit.engine.checkpoint import load_model

    result = export_checkpoint(checkpoint, fmt, tmp_path / f"conformer.{fmt}", load_registry())
    assert result.max_difference <= TOLERANCE
    model = load_model(checkpoint, load_registry()).model
    lengths = torch.tensor([23_456, 800, 16_000])
    waves = 0.1 * torch.randn(3, 23_456, generator=torch.Generator().manual_seed(5))
    waves = waves.masked_fill(torch.arange(23_456) >= lengths.unsqueeze(1), 0.0)
    with torch.no_grad():
        want, want_lengths = model.log_probs(waves, lengths)
    got, got_lengths = run_exported(result.path, fmt, (waves, lengths))
    assert torch.equal(got_lengths.long(), want_lengths)
    valid = torch.arange(want.shape[1]) < want_lengths.unsqueeze(1)
    assert (got - want).abs()[valid].max() <= TOLERANCE


def test_int8_quantization_replaces_every_linear_and_keeps_the_output(checkpoint: Path) -> None:
    from asrkit.engine.checkpoint import load_model

    model = load_model(checkpoint, load_registry()).model
    quantized = quantize_for_cpu(model)
    assert is_quantized(quantized) and not any(type(m) is nn.Linear for m in quantized.modules())
    lengths = torch.tensor([16_000, 9_000])
    waves = 0.1 * torch.randn(2, 16_000, generator=torch.Generator().manual_seed(2))
    waves = waves.masked_fill(torch.arange(16_000) >= lengths.unsqueeze(1), 0.0)
    with torch.no_grad():
        want, want_lengths = model.log_probs(waves, lengths)
        got, got_lengths = quantized.log_probs(waves, lengths)
    assert torch.equal(got_lengths, want_lengths)
    valid = torch.arange(want.shape[1]) < want_lengths.unsqueeze(1)
    agree = (got.argmax(-1) == want.argmax(-1))[valid].float().mean()
    assert agree > 0.9


@pytest.mark.slow
def test_the_librispeech_conformer_recipe_runs_and_averages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """recipes/librispeech100_conformer.yaml on the tiny LibriSpeech fixture, shrunk, for 2 epochs."""
    import json

    from click.testing import CliRunner

    from asrkit.cli import main

    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    corpus = root / "tests" / "fixtures" / "librispeech"
    places = [("train", 0), ("valid", 0), ("test", 0), ("test", 1)]
    settings = [f"data.{s}.{i}.root={corpus}" for s, i in places] + [f"data.{s}.{i}.download=false" for s, i in places]
    small = ["encoder.d_model=32", "encoder.num_layers=1", "encoder.subsampling_channels=8", "tokenizer.vocab_size=40"]
    run_only = ["train.epochs=2", "train.num_workers=0", "train.accumulate_grad=1", "train.precision=fp32"]
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "recipes/librispeech100_conformer.yaml", *settings, *small, *run_only, "--out", str(out), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert [r["set"] for r in results["test_averaged"]] == ["test-clean", "test-other"]


def test_inter_ctc_reads_the_conformers_intermediate_blocks() -> None:
    """The inter_ctc objective over a 2-block conformer: its loss depends on block 1's output."""
    registry = load_registry()
    data = read_yaml(TINY)
    data["encoder"] = {"name": "conformer", "d_model": 32, "num_layers": 2, "num_heads": 2, "conv_kernel": 7}
    data["objective"] = {"name": "inter_ctc", "layers": [1], "weight": 0.3}
    recipe = parse_recipe(data, registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer).train()
    lengths = torch.tensor([16_000, 12_000])
    waves = 0.1 * torch.randn(2, 16_000, generator=torch.Generator().manual_seed(3))
    loss = model(waves, lengths, [tokenizer.encode("yes"), tokenizer.encode("no")])
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    encoded = model.encode(waves, lengths)
    assert set(encoded.intermediate) == {1} and encoded.intermediate[1].shape == encoded.hidden.shape
    assert not torch.equal(encoded.intermediate[1], encoded.hidden)
