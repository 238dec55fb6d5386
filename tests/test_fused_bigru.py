"""The fused BiGRU recurrence (``train_rnn: fused``) against PyTorch's own GRU on packed sequences."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asrkit_plugins.encoders.fused_bigru import fused_bigru, reverse_within_lengths


def packed_reference(gru: torch.nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = gru(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


def masked_loss(out: torch.Tensor, lengths: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A loss that reads every valid frame and no padded one, as the encoder's masking guarantees."""
    valid = torch.arange(out.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    return (out * weights * valid.unsqueeze(-1)).sum()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_outputs_and_every_gradient_match_the_packed_gru(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 5, batch_first=True, bidirectional=True).to(dtype)
    x = torch.randn(3, 11, 6, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([7, 11, 2])
    weights = torch.randn(3, 11, 10, dtype=dtype)
    tolerance = {"atol": 1e-10, "rtol": 1e-9} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-4}

    want = packed_reference(gru, x, lengths)
    want_grads = torch.autograd.grad(masked_loss(want, lengths, weights), [x, *gru.parameters()])
    got = fused_bigru(gru, x, lengths)
    got_grads = torch.autograd.grad(masked_loss(got, lengths, weights), [x, *gru.parameters()])

    valid = (torch.arange(11).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    torch.testing.assert_close(got * valid, want, **tolerance)
    names = ["x"] + [name for name, _ in gru.named_parameters()]
    for name, got_grad, want_grad in zip(names, got_grads, want_grads, strict=True):
        torch.testing.assert_close(got_grad, want_grad, **tolerance, msg=name)


def test_without_gradients_the_outputs_are_the_same() -> None:
    torch.manual_seed(4)
    gru = torch.nn.GRU(6, 5, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(3, 8, 6), torch.tensor([8, 3, 6])
    with_grad = fused_bigru(gru, x, lengths)
    assert with_grad.grad_fn is not None
    with torch.no_grad():
        without = fused_bigru(gru, x, lengths)
    assert without.grad_fn is None
    torch.testing.assert_close(without, with_grad.detach(), rtol=0, atol=0)


def test_gradcheck_on_full_length_rows() -> None:
    torch.manual_seed(1)
    gru = torch.nn.GRU(3, 2, batch_first=True, bidirectional=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 5])
    assert torch.autograd.gradcheck(lambda inputs, *_: fused_bigru(gru, inputs, lengths), (x, *gru.parameters()))


def test_a_row_alone_gets_the_same_valid_outputs() -> None:
    torch.manual_seed(2)
    gru = torch.nn.GRU(4, 3, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(2, 9, 4), torch.tensor([4, 9])
    out = fused_bigru(gru, x, lengths)
    alone = fused_bigru(gru, x[:1, :4], lengths[:1])
    torch.testing.assert_close(out[:1, :4], alone)


def test_reverse_within_lengths_is_its_own_inverse() -> None:
    x, lengths = torch.arange(12.0).view(2, 6, 1), torch.tensor([4, 6])
    once = reverse_within_lengths(x, lengths)
    assert once[0, :, 0].tolist() == [3.0, 2.0, 1.0, 0.0, 4.0, 5.0]
    torch.testing.assert_close(reverse_within_lengths(once, lengths), x)


def test_only_single_layer_bidirectional_batch_first_grus() -> None:
    with pytest.raises(ValueError, match="single-layer, bidirectional, batch-first"):
        fused_bigru(torch.nn.GRU(3, 2, batch_first=True), torch.randn(1, 2, 3), torch.tensor([2]))


def test_a_compiled_encoder_leaves_the_recurrence_eager() -> None:
    """``train.compile`` wraps the encoder in torch.compile; the time loop must not be traced and unrolled."""
    torch.manual_seed(3)
    gru = torch.nn.GRU(4, 3, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(2, 7, 4), torch.tensor([7, 5])

    def encode(inputs: torch.Tensor) -> torch.Tensor:
        return fused_bigru(gru, inputs.tanh(), lengths).sum()

    torch._dynamo.reset()
    explained = torch._dynamo.explain(encode)(x)
    traced_ops = sum(len(ops) for ops in explained.ops_per_graph)
    assert traced_ops <= 3, explained.ops_per_graph  # tanh and sum; 7 unrolled steps would add dozens
    compiled = torch.compile(encode, backend="eager")
    torch.testing.assert_close(compiled(x), encode(x))
