"""The built-in feature extractors: log_mel and mfcc."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio

from asrkit.config import build_config
from asrkit.errors import RecipeError
from asrkit.testing import check_component
from asrkit_plugins.features.log_mel import LogMel, LogMelConfig, empty_filters
from asrkit_plugins.features.mfcc import Mfcc

RATE = 16000


def speech_like(num_samples: int, seed: int = 0) -> torch.Tensor:
    """A chirp with harmonics plus a little noise, ``(S,)``: energy spread over many mel bins."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / RATE
    pitch = 120 + 80 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / RATE
    wave = sum(torch.sin(k * phase) / k for k in range(1, 20))
    return 0.1 * wave + 0.01 * torch.randn(num_samples, generator=generator)


def padded(rows: list[torch.Tensor], fill: float | None = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows padded to the longest with ``fill``, or with noise when None."""
    lengths = torch.tensor([len(r) for r in rows])
    out = (
        torch.randn(len(rows), int(lengths.max()))
        if fill is None
        else torch.full((len(rows), int(lengths.max())), fill)
    )
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out, lengths


def fitted_global(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> LogMel:
    module = LogMel(LogMelConfig(normalize="global")).eval()
    module.fit(batches)
    return module


@pytest.mark.parametrize("normalize", ["utterance", "global", "none"])
def test_log_mel_passes_the_contract(normalize: str) -> None:
    check_component("features", LogMel, LogMelConfig(normalize=normalize))


def test_mfcc_passes_the_contract() -> None:
    check_component("features", Mfcc)


def test_default_filterbank_has_128_mels_and_no_empty_filter() -> None:
    module = LogMel(LogMelConfig())
    assert module.num_features == 128
    assert module.frame_shift == pytest.approx(0.01)
    assert empty_filters(module.mel.mel_scale.fb) == []


def test_configs_with_empty_filters_are_refused() -> None:
    # A 400-point FFT with the HTK scale leaves four of 128 filters without a bin.
    with pytest.raises(RecipeError, match="4 of 128 mel filters cover no FFT bin"):
        LogMel(LogMelConfig(n_fft=400, mel_scale="htk"))


def test_bad_parameters_are_recipe_errors() -> None:
    with pytest.raises(RecipeError, match="win_length"):
        build_config(LogMelConfig, {"win_length": 600}, "features")
    with pytest.raises(RecipeError, match="half the sample rate"):
        LogMel(LogMelConfig(f_max=9000.0), sample_rate=RATE)


def test_log_mel_matches_a_direct_stft_computation() -> None:
    wave = speech_like(12345)
    module = LogMel(LogMelConfig(normalize="none"))
    features, frames = module(wave[None], torch.tensor([len(wave)]))
    window = torch.hann_window(400)
    stft = torch.stft(
        wave, 512, hop_length=160, win_length=400, window=window, center=True, pad_mode="constant", return_complex=True
    )
    filterbank = torchaudio.functional.melscale_fbanks(257, 0.0, RATE / 2, 128, RATE, mel_scale="slaney")
    expected = torch.log(stft.abs().square().T @ filterbank + 1e-6)
    assert frames.tolist() == [12345 // 160 + 1] == [expected.shape[0]]
    torch.testing.assert_close(features[0], expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("num_samples", [1, 159, 160, 161, 400, 16000, 16001])
def test_output_lengths_equal_the_stft_frame_count(num_samples: int) -> None:
    module = LogMel(LogMelConfig())
    features, frames = module(torch.randn(1, num_samples), torch.tensor([num_samples]))
    assert features.shape[1] == frames.item() == module.output_lengths(torch.tensor([num_samples])).item()
    assert frames.item() == num_samples // 160 + 1


@pytest.mark.parametrize("cls", [LogMel, Mfcc])
def test_a_row_gives_the_same_features_alone_and_in_a_noisy_padded_batch(cls: type) -> None:
    short, long = speech_like(7000, seed=1), speech_like(16000, seed=2)
    module = cls(cls.Config())
    batch, lengths = padded([long, short], fill=None)
    features, frames = module(batch, lengths)
    alone, alone_frames = module(short[None], torch.tensor([len(short)]))
    n = int(frames[1])
    assert n == int(alone_frames[0]) == alone.shape[1]
    # Every valid frame, the last ones included: the STFT pads with zeros, not a reflection.
    torch.testing.assert_close(features[1, :n], alone[0], atol=1e-4, rtol=1e-4)
    assert torch.all(features[1, n:] == 0)


def test_utterance_normalization_uses_valid_frames_only() -> None:
    batch, lengths = padded([speech_like(16000), 3.0 * speech_like(6000, seed=3)])
    features, frames = LogMel(LogMelConfig())(batch, lengths)
    for row, n in enumerate(frames.tolist()):
        valid = features[row, :n]
        torch.testing.assert_close(valid.mean(0), torch.zeros(128), atol=1e-4, rtol=0)
        torch.testing.assert_close(valid.var(0, unbiased=False), torch.ones(128), atol=2e-3, rtol=0)
        assert torch.all(features[row, n:] == 0)


def test_global_normalization_fits_zero_mean_unit_variance() -> None:
    batches = [padded([speech_like(16000, seed=s), speech_like(9000 + 1000 * s, seed=s + 10)]) for s in range(3)]
    module = fitted_global(batches)
    assert module.needs_fit
    valid_frames = []
    for waves, lengths in batches:
        features, frames = module(waves, lengths)
        valid_frames += [features[i, :n] for i, n in enumerate(frames.tolist())]
    stacked = torch.cat(valid_frames)
    torch.testing.assert_close(stacked.mean(0), torch.zeros(128), atol=1e-3, rtol=0)
    torch.testing.assert_close(stacked.var(0, unbiased=False), torch.ones(128), atol=1e-2, rtol=0)


def test_global_statistics_survive_a_state_dict_round_trip(tmp_path) -> None:
    batches = [padded([speech_like(16000), speech_like(8000, seed=4)])]
    module = fitted_global(batches)
    torch.save(module.state_dict(), tmp_path / "features.pt")
    restored = LogMel(LogMelConfig(normalize="global"))
    restored.load_state_dict(torch.load(tmp_path / "features.pt", weights_only=True))
    assert torch.equal(restored.mean, module.mean) and torch.equal(restored.std, module.std)
    torch.testing.assert_close(restored(*batches[0])[0], module(*batches[0])[0])


def test_global_normalization_refuses_to_run_unfitted() -> None:
    module = LogMel(LogMelConfig(normalize="global"))
    with pytest.raises(RuntimeError, match="before fit"):
        module(torch.randn(1, 1600), torch.tensor([1600]))


def test_only_global_normalization_needs_fit() -> None:
    assert not LogMel(LogMelConfig()).needs_fit
    assert not LogMel(LogMelConfig(normalize="none")).needs_fit
    assert "mean" not in LogMel(LogMelConfig()).state_dict()


def test_features_are_float32_under_autocast() -> None:
    wave = speech_like(8000)[None]
    module = LogMel(LogMelConfig())
    plain, _ = module(wave, torch.tensor([8000]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast, _ = module(wave.bfloat16(), torch.tensor([8000]))
    assert autocast.dtype == torch.float32
    # Only the bfloat16 rounding of the input may differ, not the computation.
    torch.testing.assert_close(autocast, module(wave.bfloat16().float(), torch.tensor([8000]))[0])
    assert plain.dtype == torch.float32


def test_mfcc_is_the_dct_of_log_mel() -> None:
    wave = speech_like(8000)[None]
    lengths = torch.tensor([8000])
    mfcc = Mfcc(Mfcc.Config(normalize="none", n_mels=64, n_mfcc=13))
    log_mel = LogMel(LogMelConfig(normalize="none", n_mels=64))
    dct = torchaudio.functional.create_dct(13, 64, norm="ortho")
    assert mfcc.num_features == 13
    torch.testing.assert_close(mfcc(wave, lengths)[0], log_mel(wave, lengths)[0] @ dct)


def test_mfcc_refuses_more_coefficients_than_mels() -> None:
    with pytest.raises(RecipeError, match="n_mfcc"):
        build_config(Mfcc.Config, {"n_mels": 20, "n_mfcc": 40}, "features")
