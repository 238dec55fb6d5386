"""The ResCNN-BiGRU encoder, alone and inside the acoustic model; the registration of these built-ins."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from asrkit.model import AcousticModel
from asrkit.registry import Registry
from asrkit.testing import check_component
from asrkit_plugins.augmenters.specaugment import SpecAugment, SpecAugmentConfig
from asrkit_plugins.augmenters.speed_perturb import SpeedPerturb
from asrkit_plugins.encoders.rescnn_bigru import ResCNNBiGRU, ResCNNBiGRUConfig
from asrkit_plugins.features.log_mel import LogMel, LogMelConfig
from asrkit_plugins.features.mfcc import Mfcc
from asrkit_plugins.objectives.ctc import CTC
from asrkit_plugins.tokenizers.char_tokenizer import CharTokenizer

SMALL = ResCNNBiGRUConfig(n_cnn_layers=2, n_rnn_layers=2, rnn_dim=32, cnn_channels=8)


@pytest.fixture(scope="module")
def default_model() -> ResCNNBiGRU:
    torch.manual_seed(0)
    return ResCNNBiGRU(ResCNNBiGRUConfig(), input_dim=128).eval()


def test_the_builtin_plugins_register_these_components(asrkit_plugin_manager) -> None:
    registry = Registry(asrkit_plugin_manager)
    expected = {
        ("features", "log_mel"): LogMel,
        ("features", "mfcc"): Mfcc,
        ("augmenters", "specaugment"): SpecAugment,
        ("augmenters", "speed_perturb"): SpeedPerturb,
        ("encoders", "rescnn_bigru"): ResCNNBiGRU,
    }
    assert {key: registry.get(*key).cls for key in expected} == expected


def test_rescnn_bigru_passes_the_contract() -> None:
    check_component("encoders", ResCNNBiGRU)


def test_default_model_has_the_reference_parameter_count(default_model: ResCNNBiGRU) -> None:
    # 128 mels, 28 characters + blank: the tutorial model's size, ~23.7M, with the CTC layer over 512 features.
    head = CTC(CTC.Config(), input_dim=default_model.output_dim, tokenizer=CharTokenizer(CharTokenizer.Config()))
    assert default_model.output_dim == 512
    assert sum(p.numel() for p in [*default_model.parameters(), *head.parameters()]) == 23_705_373


@pytest.mark.parametrize("input_dim", [127, 128])
def test_output_lengths_follow_the_stride_2_convolution(input_dim: int) -> None:
    model = ResCNNBiGRU(SMALL, input_dim=input_dim)
    for frames in range(1, 12):
        stem = model.stem(torch.zeros(1, 1, frames, input_dim))
        assert stem.shape[2] == model.output_lengths(torch.tensor([frames])).item() == (frames - 1) // 2 + 1
        assert stem.shape[3] == (input_dim + 1) // 2
    assert model.subsampling == 2


def test_padding_does_not_change_any_real_frame(default_model: ResCNNBiGRU) -> None:
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([41, 120, 77, 2])  # unsorted, odd and even, one far shorter than the batch
    batch = torch.randn(4, 130, 128, generator=generator) * 5  # noise everywhere, padding included
    with torch.no_grad():
        logits, out_lengths = default_model(batch, lengths)
        assert logits.shape == (4, 60, 512)  # T' of the longest row, not of the padded width
        for i, n in enumerate(lengths.tolist()):
            alone, alone_lengths = default_model(batch[i : i + 1, :n], lengths[i : i + 1])
            assert alone_lengths.item() == out_lengths[i].item() == (n - 1) // 2 + 1
            m = out_lengths[i].item()
            torch.testing.assert_close(logits[i, :m], alone[0, :m], atol=1e-4, rtol=1e-4)


def test_the_backward_direction_starts_at_the_last_valid_frame() -> None:
    # Without packing the first row's last frames would depend on the padding the GRU reads backwards.
    torch.manual_seed(2)
    model = ResCNNBiGRU(SMALL, input_dim=16).eval()
    lengths = torch.tensor([10, 40])
    x = torch.randn(2, 40, 16)
    changed = x.clone()
    changed[0, 10:] += 100.0
    with torch.no_grad():
        a, _ = model(x, lengths)
        b, _ = model(changed, lengths)
    torch.testing.assert_close(a[0, :5], b[0, :5], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=1e-5)


def test_features_specaugment_encoder_compose_with_lengths() -> None:
    torch.manual_seed(3)
    model = AcousticModel(
        LogMel(LogMelConfig()),
        [SpecAugment(SpecAugmentConfig())],
        ResCNNBiGRU(SMALL, input_dim=128),
        CTC(CTC.Config(), input_dim=SMALL.rnn_dim, tokenizer=CharTokenizer(CharTokenizer.Config())),
    )
    samples = torch.tensor([16000, 4321, 9999])
    waves = torch.randn(3, 16000)
    expected = ((samples // 160 + 1) - 1) // 2 + 1
    assert model.output_lengths(samples).tolist() == expected.tolist() == [51, 14, 32]
    assert model.frame_seconds == pytest.approx(0.02)
    for training in (True, False):
        logits, lengths = model.train(training).log_probs(waves, samples)
        assert logits.shape == (3, 51, 29) and lengths.tolist() == expected.tolist()


def test_ctc_gradients_reach_every_parameter() -> None:
    torch.manual_seed(4)
    model = ResCNNBiGRU(SMALL, input_dim=20).train()
    head = torch.nn.Linear(model.output_dim, 6)
    x, lengths = torch.randn(3, 50, 20), torch.tensor([50, 31, 18])
    hidden, out_lengths = model(x, lengths)
    logits = head(hidden)
    targets = torch.randint(1, 6, (3, 5))
    loss = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1), targets, out_lengths, torch.full((3,), 5), blank=0
    )
    loss.backward()
    assert torch.isfinite(loss)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, (
            name
        )


def ctc_step(
    model: ResCNNBiGRU, x: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Hidden features and the CTC loss's gradient of every parameter, by name."""
    model.zero_grad()
    hidden, out_lengths = model(x, lengths)
    torch.manual_seed(0)
    logits = torch.nn.Linear(model.output_dim, 6)(hidden)
    targets = torch.tensor([[1, 2, 3], [4, 1, 2], [3, 3, 1]])
    loss = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1), targets, out_lengths, torch.full((3,), 3), blank=0
    )
    loss.backward()
    return hidden.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("form", ["padded", "fused"])
def test_padded_training_gives_the_packed_outputs_and_gradients(form: str) -> None:
    torch.manual_seed(5)
    packed = ResCNNBiGRU(dataclasses.replace(SMALL, dropout=0.0, train_rnn="packed"), input_dim=20).train()
    padded = ResCNNBiGRU(dataclasses.replace(SMALL, dropout=0.0, train_rnn=form), input_dim=20).train()
    padded.load_state_dict(packed.state_dict())
    x, lengths = torch.randn(3, 50, 20) * 3, torch.tensor([18, 50, 31])
    want_logits, want_grads = ctc_step(packed, x, lengths)
    got_logits, got_grads = ctc_step(padded, x, lengths)
    torch.testing.assert_close(got_logits, want_logits, atol=1e-5, rtol=1e-5)  # padding included: 0 in both
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("form", ["padded", "fused"])
def test_padded_training_gives_each_row_its_outputs_alone(form: str) -> None:
    torch.manual_seed(6)
    model = ResCNNBiGRU(dataclasses.replace(SMALL, dropout=0.0, train_rnn=form), input_dim=20).train()
    x, lengths = torch.randn(3, 50, 20), torch.tensor([18, 50, 31])
    logits, out_lengths = model(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        alone, _ = model(x[row : row + 1, :n], lengths[row : row + 1])
        m = out_lengths[row].item()
        torch.testing.assert_close(logits[row, :m], alone[0, :m], atol=1e-5, rtol=1e-5)
        assert not logits[row, m:].any()


def test_the_padded_form_shares_the_gru_weights() -> None:
    import copy

    model = ResCNNBiGRU(SMALL, input_dim=20)
    assert not any("directions" in key for key in model.state_dict())  # each weight saved once, under .gru
    with torch.no_grad():
        model.rnns[0].gru.weight_hh_l0_reverse.fill_(0.5)
    assert model.rnns[0].directions[1].weight_hh_l0 is model.rnns[0].gru.weight_hh_l0_reverse
    twin = copy.deepcopy(model)  # what quantize_dynamic and EMA-style copies do
    assert twin.rnns[0].directions[1].weight_hh_l0 is twin.rnns[0].gru.weight_hh_l0_reverse
    assert twin.rnns[0].gru.weight_hh_l0_reverse is not model.rnns[0].gru.weight_hh_l0_reverse
    double = model.double()  # in place: the shared parameters change dtype once, for both views
    assert double.rnns[1].directions[0].weight_ih_l0.dtype == torch.float64


def test_train_rnn_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="train_rnn must be one of auto, packed, padded, fused, got 'masked'"):
        ResCNNBiGRUConfig(train_rnn="masked")


def test_train_rnn_auto_trains_fused_on_the_cpu_and_packed_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ResCNNBiGRU(SMALL, input_dim=20).train()
    assert model.config.train_rnn == "auto"  # the default
    assert model.training_form(torch.device("cpu")) == "fused"
    assert model.training_form(torch.device("cuda", 0)) == "packed"
    for form in ("packed", "padded", "fused"):
        fixed = ResCNNBiGRU(dataclasses.replace(SMALL, train_rnn=form), 20)
        assert {fixed.training_form(torch.device(d)) for d in ("cpu", "cuda")} == {form}
    calls = []
    monkeypatch.setattr(model, "_run_padded", lambda f, n, layers, fused: calls.append((f.shape, fused)) or (f, n, {}))
    model(torch.randn(2, 9, 20), torch.tensor([9, 5]))
    assert calls == [(torch.Size([2, 9, 20]), True)]  # training on the CPU took the fused form
    model.eval()
    model(torch.randn(2, 9, 20), torch.tensor([9, 5]))
    assert calls[1] == (torch.Size([2, 9, 20]), True)  # evaluation on the CPU runs fused too
    assert model.inference_form(torch.device("cuda", 0)) == "packed"
    padded = ResCNNBiGRU(dataclasses.replace(SMALL, train_rnn="padded"), 20)
    assert padded.inference_form(torch.device("cpu")) == "packed"


def test_evaluation_fused_gives_the_packed_outputs() -> None:
    torch.manual_seed(8)
    fused = ResCNNBiGRU(dataclasses.replace(SMALL, train_rnn="fused"), input_dim=20).eval()
    packed = ResCNNBiGRU(dataclasses.replace(SMALL, train_rnn="packed"), input_dim=20).eval()
    packed.load_state_dict(fused.state_dict())
    x, lengths = torch.randn(3, 40, 20), torch.tensor([40, 11, 27])
    with torch.inference_mode():
        got, got_lengths = fused(x, lengths)
        want, want_lengths = packed(x, lengths)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # padding included: 0 in both
    assert torch.equal(got_lengths, want_lengths)


def test_an_int8_model_evaluates_packed() -> None:
    from asrkit.quantize import quantize_for_cpu

    model = ResCNNBiGRU(SMALL, input_dim=20).eval()
    quantized = quantize_for_cpu(model)
    assert model.inference_form(torch.device("cpu")) == "fused"
    assert quantized.inference_form(torch.device("cpu")) == "packed"
    with torch.inference_mode():
        hidden, _ = quantized(torch.randn(2, 9, 20), torch.tensor([9, 5]))
    assert hidden.shape == (2, 5, SMALL.rnn_dim) and not hidden[1, 3:].any()


def test_fused_training_under_autocast_runs_the_recurrence_in_fp32() -> None:
    torch.manual_seed(7)
    model = ResCNNBiGRU(dataclasses.replace(SMALL, dropout=0.0, train_rnn="fused"), input_dim=20).train()
    x, lengths = torch.randn(2, 30, 20), torch.tensor([30, 17])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden, _ = model(x, lengths)
        hidden.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.rnns.parameters())
