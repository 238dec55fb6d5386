"""Dynamic int8 quantization for CPU inference: what it replaces, what it keeps, when it refuses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from torch import nn

from asrkit.build import build, build_model
from asrkit.engine.transcribe import transcribe
from asrkit.errors import AsrkitError
from asrkit.model import AcousticModel
from asrkit.quantize import is_quantized, quantize_for_cpu
from asrkit.recipe import load_recipe
from asrkit.registry import load_registry

TINY = Path(__file__).parent / "fixtures" / "tiny_recipe.yaml"


@pytest.fixture
def model() -> AcousticModel:
    """The tiny recipe's model, its last layer scaled up so that its outputs are peaked."""
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    torch.manual_seed(0)
    built = build_model(registry, recipe, build(registry, recipe.tokenizer)).eval()
    with torch.no_grad():
        built.objective.head.weight.mul_(100.0)
    return built


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([16_000, 9_000, 3_000])
    waves = 0.1 * torch.randn(3, 16_000, generator=torch.Generator().manual_seed(1))
    return waves.masked_fill(torch.arange(16_000) >= lengths.unsqueeze(1), 0.0), lengths


def test_gru_and_linear_weights_become_int8_in_a_copy(model: AcousticModel) -> None:
    quantized = quantize_for_cpu(model)
    assert is_quantized(quantized) and not is_quantized(model)
    assert not any(type(m) in (nn.GRU, nn.Linear) for m in quantized.modules())
    assert any(isinstance(m, nn.Conv2d) for m in quantized.modules())  # convolutions stay float
    assert all(type(layer.gru) is nn.GRU for layer in model.encoder.rnns)  # the original is untouched
    assert not quantized.training


def test_quantized_model_stays_close_to_the_float_one(model: AcousticModel) -> None:
    waves, lengths = batch()
    with torch.inference_mode():
        want, want_frames = model.log_probs(waves, lengths)
        got, got_frames = quantize_for_cpu(model).log_probs(waves, lengths)
    assert torch.equal(got_frames, want_frames) and got.shape == want.shape
    valid = torch.arange(want.shape[1]) < want_frames.unsqueeze(1)
    assert not torch.equal(got, want)  # it did quantize
    agreement = (got.argmax(-1) == want.argmax(-1))[valid].float().mean()
    assert agreement > 0.9


def test_refuses_a_model_off_the_cpu(model: AcousticModel) -> None:
    with pytest.raises(AsrkitError, match="CPU only"):
        quantize_for_cpu(model.to("meta"))


def test_says_so_when_torch_has_dropped_the_api(model: AcousticModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.ao.quantization", None)  # makes the import fail
    with pytest.raises(AsrkitError, match="run without --quantize"):
        quantize_for_cpu(model)


def test_transcribe_runs_a_quantized_model(model: AcousticModel, tmp_path: Path) -> None:
    paths = []
    for index, seconds in enumerate((1.2, 0.5)):
        path = tmp_path / f"{index}.wav"
        soundfile.write(path, np.random.default_rng(index).normal(0, 0.1, round(seconds * 16000)), 16000)
        paths.append(str(path))
    registry = load_registry()
    recipe = load_recipe(TINY, [], registry)
    tokenizer = build(registry, recipe.tokenizer)
    decoder = build(registry, recipe.decoder, tokenizer=tokenizer)
    results = transcribe(quantize_for_cpu(model), decoder, paths, sample_rate=16000, device=torch.device("cpu"))
    assert [r.error for r in results] == [None, None]
    assert all(r.text for r in results)  # a peaked random model says something
