"""The built-in augmenters: specaugment and speed_perturb."""

from __future__ import annotations

import math

import pytest
import torch

from asrkit.testing import check_component
from asrkit_plugins.augmenters.specaugment import SpecAugment, SpecAugmentConfig
from asrkit_plugins.augmenters.speed_perturb import SpeedPerturb, SpeedPerturbConfig

PAD = 123.0


def features_batch(lengths: list[int], bins: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features, never exactly 0, padded with ``PAD``: ``(B, T, D)`` and ``(B,)``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(len(lengths), max(lengths), bins, generator=generator) + 1.0
    for i, n in enumerate(lengths):
        x[i, n:] = PAD
    return x, torch.tensor(lengths)


def band_widths(masked: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` bool → ``(B,)`` width of each row's single band of True; fails if a row has two bands."""
    count = masked.sum(dim=1)
    positions = torch.arange(masked.shape[1])
    first = torch.where(masked, positions, masked.shape[1]).amin(dim=1)
    last = torch.where(masked, positions, -1).amax(dim=1)
    assert torch.all((count == 0) | (last - first + 1 == count)), "one mask must be one contiguous band"
    return count


@pytest.mark.parametrize("cls", [SpecAugment, SpeedPerturb])
def test_augmenters_pass_the_contract(cls: type) -> None:
    check_component("augmenters", cls)


def test_specaugment_never_masks_padding_and_keeps_lengths() -> None:
    torch.manual_seed(0)
    module = SpecAugment(SpecAugmentConfig(freq_masks=2, time_masks=3, time_mask_ratio=None)).train()
    row_lengths = [300, 40, 7, 1, 120] * 100  # each row draws its own masks: 100 draws per length
    x, lengths = features_batch(row_lengths, bins=32)
    out, out_lengths = module(x, lengths)
    assert torch.equal(out_lengths, lengths)
    padding = torch.arange(x.shape[1]) >= lengths.unsqueeze(1)
    assert torch.all(out[padding] == PAD), "a mask reached the padding"
    changed = out != x
    assert torch.all(out[changed] == 0), "masked values are 0"
    # The masks do reach each length's last valid frame and the top bin: they are not just kept small.
    for i, n in enumerate(row_lengths[:5]):
        assert changed[i::5, n - 1].any() and changed[i::5, :n, -1].any()


def test_specaugment_is_identity_in_eval_mode() -> None:
    x, lengths = features_batch([50, 30])
    out, out_lengths = SpecAugment(SpecAugmentConfig()).eval()(x, lengths)
    assert out is x and out_lengths is lengths


def test_specaugment_masks_differ_between_utterances() -> None:
    torch.manual_seed(1)
    x, lengths = features_batch([200] * 8)
    x[:] = x[0]  # identical rows: any difference comes from the masks
    out, _ = SpecAugment(SpecAugmentConfig(freq_mask_width=30, time_mask_width=50)).train()(x, lengths)
    masks = {tuple((out[i] == 0).flatten().nonzero().flatten().tolist()) for i in range(8)}
    assert len(masks) == 8


def test_specaugment_mask_widths_respect_their_bounds() -> None:
    torch.manual_seed(2)
    row_lengths = [400, 100, 37, 10] * 100
    x, lengths = features_batch(row_lengths, bins=64)
    time_only = SpecAugment(SpecAugmentConfig(freq_masks=0, time_mask_width=1000, time_mask_ratio=0.1)).train()
    out, _ = time_only(x, lengths)
    time_widths = band_widths((out == 0).all(dim=2)).view(100, 4)
    assert time_widths.amax(dim=0).tolist() == [40, 10, 3, 1]  # floor(0.1 * length), reached over 100 draws
    freq_only = SpecAugment(SpecAugmentConfig(time_masks=0, freq_mask_width=12)).train()
    out, _ = freq_only(x, lengths)
    valid = torch.arange(x.shape[1]) < lengths.unsqueeze(1)
    freq_masked = ((out == 0) | ~valid.unsqueeze(2)).all(dim=1)
    assert band_widths(freq_masked).max().item() == 12


def test_specaugment_time_masks_are_capped_by_the_frame_width_too() -> None:
    torch.manual_seed(3)
    x, lengths = features_batch([1000], bins=8)
    module = SpecAugment(SpecAugmentConfig(freq_masks=0, time_mask_width=35, time_mask_ratio=0.5)).train()
    x, lengths = x.expand(200, -1, -1), lengths.expand(200)
    out, _ = module(x, lengths)
    assert band_widths((out == 0).all(dim=2)).max().item() == 35


def sine(frequency: float, num_samples: int, rate: int = 16000) -> torch.Tensor:
    return torch.sin(2 * math.pi * frequency * torch.arange(num_samples) / rate)


def perturb_with(factor: float, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return SpeedPerturb(SpeedPerturbConfig(factors=(factor,))).train()(x, lengths)


def test_speed_perturb_changes_length_and_pitch_by_the_factor() -> None:
    wave = sine(1000.0, 16000)[None]
    for factor in (0.9, 1.1):
        out, lengths = perturb_with(factor, wave, torch.tensor([16000]))
        assert lengths.item() == math.ceil(16000 / factor) and out.shape[1] >= lengths.item()
        spectrum = torch.fft.rfft(out[0, : lengths.item()]).abs()
        peak_hz = spectrum.argmax().item() * 16000 / lengths.item()
        assert peak_hz == pytest.approx(1000.0 * factor, abs=2.0)


def test_speed_perturb_reads_only_valid_samples_and_zeroes_its_padding() -> None:
    short, long = sine(440.0, 7000), sine(300.0, 16000)
    batch = torch.full((2, 16000), PAD)
    batch[0], batch[1, :7000] = long, short
    lengths = torch.tensor([16000, 7000])
    out, new_lengths = perturb_with(0.9, batch, lengths)
    alone, alone_lengths = perturb_with(0.9, short[None], torch.tensor([7000]))
    n = int(new_lengths[1])
    assert n == int(alone_lengths[0])
    torch.testing.assert_close(out[1, :n], alone[0, :n])
    assert torch.all(out[1, n:] == 0)


def test_speed_perturb_leaves_unperturbed_rows_untouched() -> None:
    x = torch.full((1, 9000), PAD)
    x[0, :8000] = sine(500.0, 8000)
    out, lengths = perturb_with(1.0, x, torch.tensor([8000]))
    assert torch.equal(out, x) and lengths.tolist() == [8000]


def test_speed_perturb_draws_a_factor_per_utterance_and_does_nothing_in_eval_mode() -> None:
    torch.manual_seed(0)
    module = SpeedPerturb(SpeedPerturbConfig())
    x, lengths = torch.randn(64, 1000), torch.full((64,), 1000)
    assert module.eval()(x, lengths)[0] is x
    _, new_lengths = module.train()(x, lengths)
    assert set(new_lengths.tolist()) == {1000, math.ceil(1000 / 0.9), math.ceil(1000 / 1.1)}
