"""``add_noise`` and ``reverb``: contract, SNR, alignment and level, padding untouched, sources, simulated RIRs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from click.testing import CliRunner

from asrkit.cli import main
from asrkit.errors import DataError
from asrkit.testing import check_component
from asrkit_plugins.augmenters.add_noise import AddNoise, AddNoiseConfig
from asrkit_plugins.augmenters.reverb import Reverb, ReverbConfig

RATE = 16000


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MUSAN-like layout: noise/<source>/<name>.wav, plus a file that is not audio."""
    root = tmp_path_factory.mktemp("musan")
    rng = np.random.default_rng(0)
    for source, seconds in (("free-sound", 0.3), ("sound-bible", 1.5)):
        (root / "noise" / source).mkdir(parents=True)
        soundfile.write(
            root / "noise" / source / f"{source}-0000.wav", 0.1 * rng.standard_normal(int(seconds * RATE)), RATE
        )
    (root / "noise" / "free-sound" / "ANNOTATIONS").write_text("not audio\n")
    return root


@pytest.fixture(scope="module")
def rir_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rirs")
    result = CliRunner().invoke(main, ["data", "simulate-rirs", str(out), "--count", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out


def batch(lengths: tuple[int, ...] = (16000, 9000), padding: float = 123.0) -> tuple[torch.Tensor, torch.Tensor]:
    counts = torch.tensor(lengths)
    t = torch.arange(max(lengths)) / RATE
    x = 0.3 * torch.sin(2 * torch.pi * 300 * t).repeat(len(lengths), 1)
    return x.masked_fill(torch.arange(max(lengths)) >= counts.unsqueeze(1), padding), counts


def test_contracts(noise_folder: Path, rir_folder: Path) -> None:
    check_component("augmenters", AddNoise, AddNoiseConfig(source=str(noise_folder), probability=1.0))
    check_component("augmenters", Reverb, ReverbConfig(source=str(rir_folder), probability=1.0))
    check_component("augmenters", AddNoise)  # source is required: the static contract only


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_is_mixed_at_the_drawn_snr_over_valid_samples_only(noise_folder: Path, snr: float) -> None:
    module = AddNoise(AddNoiseConfig(source=str(noise_folder), min_snr_db=snr, max_snr_db=snr, probability=1.0))
    x, lengths = batch()
    torch.manual_seed(0)
    out, out_lengths = module.train()(x.clone(), lengths)
    assert torch.equal(out_lengths, lengths)
    for row, n in enumerate(lengths.tolist()):
        noise = out[row, :n] - x[row, :n]
        measured = 10 * torch.log10(x[row, :n].pow(2).mean() / noise.pow(2).mean())
        assert abs(float(measured) - snr) < 0.01
        assert torch.all(out[row, n:] == 123.0)


def test_noise_probability_zero_and_eval_mode_change_nothing(noise_folder: Path) -> None:
    x, lengths = batch()
    module = AddNoise(AddNoiseConfig(source=str(noise_folder), probability=0.0)).train()
    assert torch.equal(module(x.clone(), lengths)[0], x)
    assert module.clips is not None  # loaded on the first training batch


def test_sources_are_read_lazily_and_a_missing_one_is_one_line_at_the_first_training_batch(tmp_path: Path) -> None:
    module = AddNoise(AddNoiseConfig(source=str(tmp_path / "nowhere")))  # building needs no files: inference works
    x, lengths = batch()
    assert torch.equal(module.eval()(x, lengths)[0], x)
    with pytest.raises(DataError, match="no folder or manifest"):
        module.train()(x, lengths)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        Reverb(ReverbConfig(source=str(tmp_path / "empty"))).train()(x, lengths)


def test_manifest_source(noise_folder: Path, tmp_path: Path) -> None:
    wav = next(noise_folder.rglob("*.wav"))
    manifest = tmp_path / "noise.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(wav), "duration": 0.3, "text": ""}) + "\n")
    module = AddNoise(AddNoiseConfig(source=str(manifest), probability=1.0)).train()
    module(*batch())
    assert len(module.clips) == 1


def test_reverb_keeps_level_alignment_and_padding(rir_folder: Path) -> None:
    module = Reverb(ReverbConfig(source=str(rir_folder), probability=1.0)).train()
    x, lengths = batch((16000, 9000, 4000))
    torch.manual_seed(0)
    out, out_lengths = module(x.clone(), lengths)
    assert torch.equal(out_lengths, lengths)
    for row, n in enumerate(lengths.tolist()):
        assert torch.all(out[row, n:] == 123.0)
        assert torch.allclose(out[row, :n].pow(2).sum(), x[row, :n].pow(2).sum(), rtol=1e-3)
        assert not torch.allclose(out[row, :n], x[row, :n], atol=1e-3)
    # aligned on the direct path: a click stays where it was (its strongest echo is itself)
    click = torch.zeros(1, 8000)
    click[0, 1000] = 1.0
    wet, _ = module(click, torch.tensor([8000]))
    assert int(wet.abs().argmax()) == 1000


def test_simulated_rirs_decay_and_are_described(rir_folder: Path) -> None:
    files = sorted(rir_folder.glob("rir-*.wav"))
    assert len(files) == 3
    table = (rir_folder / "rirs.tsv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("file\t")
    for file in files:
        rir, rate = soundfile.read(file)
        assert rate == RATE and np.abs(rir).max() == pytest.approx(1.0)
        energy = np.cumsum(rir[::-1] ** 2)[::-1]  # Schroeder decay: the tail holds little energy
        assert energy[min(len(rir) - 1, RATE // 2)] < 0.2 * energy[0]
