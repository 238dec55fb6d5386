"""``asrkit export``: the exported graphs give PyTorch's log-probabilities on shapes they were not traced with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from asrkit.build import build, build_model
from asrkit.cli import main
from asrkit.engine.checkpoint import load_model, model_payload, save_atomic
from asrkit.export import TOLERANCE, ExportError, check_export, export_checkpoint, run_exported
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig, reverse_within_lengths
from asrkit_plugins.features.log_mel import LogMel, LogMelConfig
from asrkit_plugins.features.mfcc import Mfcc, MfccConfig

TINY = Path(__file__).parent / "fixtures" / "tiny_recipe.yaml"


def padded_noise(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, max(lengths))`` noise, zero past each row's length, and the lengths."""
    counts = torch.tensor(lengths)
    waves = 0.1 * torch.randn(len(lengths), max(lengths), generator=torch.Generator().manual_seed(seed))
    return waves.masked_fill(torch.arange(max(lengths)) >= counts.unsqueeze(1), 0.0), counts


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny recipe's model with random weights, its last layer scaled up so that the outputs are peaked."""
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    torch.manual_seed(0)
    model = build_model(registry, recipe, tokenizer)
    with torch.no_grad():
        model.objective.head.weight.mul_(100.0)
    path = tmp_path_factory.mktemp("export") / "tiny.pt"
    save_atomic(model_payload(recipe.resolved(), model, tokenizer), path)
    return path


def expected(checkpoint: Path, inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    model = load_model(checkpoint, load_registry()).model
    with torch.no_grad():
        return model.log_probs(*inputs)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_graph_matches_pytorch_on_new_shapes(checkpoint: Path, tmp_path: Path, fmt: str) -> None:
    result = export_checkpoint(checkpoint, fmt, tmp_path / f"model.{fmt}", load_registry())
    assert result.path.is_file() and result.max_difference <= TOLERANCE
    for lengths in ([23_456, 800, 16_000, 5_001], [3_000]):  # neither the traced nor the checked shapes
        inputs = padded_noise(lengths, seed=len(lengths))
        want, want_lengths = expected(checkpoint, inputs)
        got, got_lengths = run_exported(result.path, fmt, inputs)
        assert torch.equal(got_lengths.long(), want_lengths)
        assert got.shape == want.shape
        valid = torch.arange(want.shape[1]) < want_lengths.unsqueeze(1)
        assert (got - want).abs()[valid].max() <= TOLERANCE
        assert (want.exp().amax(dim=-1)[valid] > 0.5).float().mean() > 0.5  # peaked: a small tolerance means something
        # Past a row's length the logits are 0, as pad_packed_sequence gives: log-probabilities -log V.
        assert torch.allclose(got[~valid], torch.full_like(got[~valid], -torch.log(torch.tensor(want.shape[-1]))))


def test_metadata_describes_the_graph(checkpoint: Path, tmp_path: Path) -> None:
    result = export_checkpoint(checkpoint, "torchscript", tmp_path / "m.ts.pt", load_registry())
    meta = json.loads(result.metadata_path.read_text())
    loaded = load_model(checkpoint, load_registry())
    assert meta["labels"] == loaded.tokenizer.labels and meta["blank_id"] == loaded.tokenizer.blank_id
    assert meta["sample_rate"] == 16000 and meta["frame_seconds"] == pytest.approx(0.02)
    assert meta["recipe"]["encoder"]["name"] == "rescnn_bigru"


def test_check_export_refuses_a_graph_that_differs(checkpoint: Path, tmp_path: Path) -> None:
    result = export_checkpoint(checkpoint, "torchscript", tmp_path / "m.ts.pt", load_registry())
    other = load_model(checkpoint, load_registry()).model
    with torch.no_grad():
        other.objective.head.bias.add_(torch.linspace(0, 1, other.objective.head.bias.numel()))
    with pytest.raises(ExportError, match="differs from PyTorch"):
        check_export(other, result.path, "torchscript", padded_noise([9_000, 4_000], seed=3))


def test_onnx_export_without_onnx_says_what_to_install(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real = importlib.import_module

    def refuse(name: str, *args: object) -> object:
        if name == "onnx":
            raise ImportError("no onnx")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(ExportError, match=r"pip install 'asrkit\[export\]'"):
        export_checkpoint(checkpoint, "onnx", tmp_path / "m.onnx", load_registry())


def test_cli_export_writes_the_file_next_to_the_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "best.pt"
    copy.write_bytes(checkpoint.read_bytes())
    result = CliRunner().invoke(main, ["export", str(copy), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "best.ts.pt").is_file() and (tmp_path / "best.ts.pt.json").is_file()
    assert "largest log-probability difference" in result.output


def test_cli_export_of_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path / "none.pt")])
    assert result.exit_code == 1
    assert "no checkpoint at" in result.output and "Traceback" not in result.output


def test_reverse_within_lengths_leaves_padding_in_place() -> None:
    x = torch.arange(8.0).reshape(2, 4, 1)
    flipped = reverse_within_lengths(x, torch.tensor([3, 4]))
    assert flipped.squeeze(-1).tolist() == [[2.0, 1.0, 0.0, 3.0], [7.0, 6.0, 5.0, 4.0]]
    assert torch.equal(reverse_within_lengths(flipped, torch.tensor([3, 4])), x)


def test_export_form_of_the_encoder_equals_the_packed_one() -> None:
    torch.manual_seed(1)
    encoder = ResCNNBiGRU(ResCNNBiGRUConfig(n_cnn_layers=1, n_rnn_layers=2, rnn_dim=16, cnn_channels=4), 20).eval()
    features, lengths = torch.randn(3, 41, 20), torch.tensor([41, 17, 2])
    with torch.no_grad():
        want, want_lengths = encoder(features, lengths)
        got, got_lengths = encoder.export_module()(features, lengths)
    assert torch.equal(got_lengths, want_lengths)
    assert torch.allclose(got, want, atol=1e-5)  # padding included: both are 0 there


@pytest.mark.parametrize(
    "features", [LogMel(LogMelConfig()), LogMel(LogMelConfig(normalize="none", n_mels=40)), Mfcc(MfccConfig())]
)
def test_export_form_of_the_features_equals_torchaudio(features: LogMel) -> None:
    waves, lengths = padded_noise([16_000, 9_000, 401], seed=5)
    waves[0, 4_000:8_000] = 0.0  # digital silence: energies at the log floor
    with torch.no_grad():
        want, want_frames = features.eval()(waves, lengths)
        got, got_frames = features.export_module()(waves, lengths)
    assert torch.equal(got_frames, want_frames)
    assert torch.allclose(got, want, atol=1e-4)


def test_exported_graph_takes_any_padded_width(checkpoint: Path, tmp_path: Path) -> None:
    """Wider input than the longest row only adds frames past every length."""
    path = export_checkpoint(checkpoint, "torchscript", tmp_path / "m.ts.pt", load_registry()).path
    waves, lengths = padded_noise([8_000, 5_000], seed=7)
    narrow, narrow_lengths = run_exported(path, "torchscript", (waves, lengths))
    wide, wide_lengths = run_exported(path, "torchscript", (torch.nn.functional.pad(waves, (0, 3_200)), lengths))
    assert torch.equal(narrow_lengths, wide_lengths)
    assert wide.shape[1] == narrow.shape[1] + 10  # 20 more 10 ms frames, halved by the encoder
    valid = torch.arange(narrow.shape[1]) < narrow_lengths.unsqueeze(1)
    assert torch.allclose(wide[:, : narrow.shape[1]][valid], narrow[valid], atol=1e-5)
