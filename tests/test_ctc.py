"""The CTC loss helper: reduction, target formats, float32 under autocast, and the feasibility check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from asrkit.ctc import count_repeats, ctc_feasible, ctc_loss

BLANK = 0


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 20, 6, generator=generator)
    lengths = torch.tensor([20, 14, 9])
    targets = [[1, 2, 2, 3, 5], [4], [3, 3, 1]]
    return logits, lengths, targets


def padded(targets: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(t) for t in targets)
    return torch.tensor([t + [0] * (width - len(t)) for t in targets]), torch.tensor([len(t) for t in targets])


def test_loss_matches_pytorch_per_utterance_and_mean_reductions() -> None:
    logits, lengths, targets = batch()
    loss = ctc_loss(logits, lengths, targets, blank=BLANK)
    log_probs = logits.log_softmax(-1).transpose(0, 1)
    flat, target_lengths = padded(targets)
    expected = F.ctc_loss(log_probs, flat, lengths, target_lengths, blank=BLANK, reduction="none")
    torch.testing.assert_close(loss.per_utterance, expected)
    torch.testing.assert_close(
        loss.mean, F.ctc_loss(log_probs, flat, lengths, target_lengths, reduction="mean", blank=BLANK)
    )
    torch.testing.assert_close(loss.mean, (expected / target_lengths).mean())


def test_list_and_padded_targets_give_the_same_loss() -> None:
    logits, lengths, targets = batch(1)
    flat, target_lengths = padded(targets)
    torch.testing.assert_close(
        ctc_loss(logits, lengths, targets, blank=BLANK).per_utterance,
        ctc_loss(logits, lengths, flat, target_lengths, blank=BLANK).per_utterance,
    )
    with pytest.raises(ValueError, match="target_lengths"):
        ctc_loss(logits, lengths, flat, blank=BLANK)


def test_blank_position_is_respected() -> None:
    logits, lengths, targets = batch(2)
    last = logits.shape[-1] - 1
    moved = torch.roll(logits, shifts=-1, dims=-1)  # class k moves to k - 1: blank 0 becomes the last class
    shifted_targets = [[label - 1 for label in target] for target in targets]
    torch.testing.assert_close(
        ctc_loss(moved, lengths, shifted_targets, blank=last).per_utterance,
        ctc_loss(logits, lengths, targets, blank=0).per_utterance,
    )


def test_half_precision_logits_are_scored_in_float32() -> None:
    logits, lengths, targets = batch(3)
    half = logits.half()
    loss = ctc_loss(half, lengths, targets, blank=BLANK)
    assert loss.per_utterance.dtype == torch.float32 and loss.mean.dtype == torch.float32
    torch.testing.assert_close(loss.per_utterance, ctc_loss(half.float(), lengths, targets, blank=BLANK).per_utterance)


def test_autocast_does_not_lower_the_loss_precision() -> None:
    logits, lengths, targets = batch(4)
    weight = torch.randn(6, 6, requires_grad=True)
    reference = ctc_loss(logits @ weight, lengths, targets, blank=BLANK)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        projected = logits @ weight  # a bfloat16 tensor under autocast
        loss = ctc_loss(projected, lengths, targets, blank=BLANK)
    assert projected.dtype == torch.bfloat16 and loss.mean.dtype == torch.float32
    torch.testing.assert_close(loss.mean, ctc_loss(projected.float(), lengths, targets, blank=BLANK).mean)
    torch.testing.assert_close(loss.mean, reference.mean, rtol=0.05, atol=0.05)
    loss.mean.backward()
    assert weight.grad is not None and torch.isfinite(weight.grad).all()


def test_infeasible_utterances_get_zero_loss_and_zero_gradient() -> None:
    logits, _, _ = batch(5)
    logits.requires_grad_(True)
    lengths = torch.tensor([20, 3, 9])
    targets = [[1, 2, 3], [2, 2], [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]]  # 2 + 1 repeat fits in 3; 10 labels do not fit in 9
    loss = ctc_loss(logits, lengths, targets, blank=BLANK)
    assert loss.per_utterance[0] > 0 and loss.per_utterance[1] > 0 and loss.per_utterance[2] == 0
    loss.mean.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[2].abs().sum() == 0 and logits.grad[1].abs().sum() > 0


def test_empty_transcripts_are_scored_as_all_blank() -> None:
    logits, lengths, _ = batch(6)
    loss = ctc_loss(logits, lengths, [[], [], []], blank=BLANK)
    all_blank = -logits.log_softmax(-1)[:, :, BLANK]
    expected = torch.stack([all_blank[i, :n].sum() for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(loss.per_utterance, expected)
    torch.testing.assert_close(loss.mean, expected.mean())  # target length 0 counts as 1


@pytest.mark.parametrize(("labels", "repeats"), [([], 0), ([1], 0), ([1, 1], 1), ([1, 2, 1], 0), ([3, 3, 3, 2, 2], 3)])
def test_count_repeats(labels: list[int], repeats: int) -> None:
    assert count_repeats(labels) == repeats


@pytest.mark.parametrize("seed", range(4))
def test_feasibility_predicts_a_finite_loss(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    targets = [torch.randint(1, 3, (int(n),), generator=generator).tolist() for n in torch.randint(0, 8, (64,))]
    target_lengths = torch.tensor([len(t) for t in targets])
    repeats = torch.tensor([count_repeats(t) for t in targets])
    frames = (target_lengths + repeats + torch.randint(-2, 3, (64,), generator=generator)).clamp(min=1)
    logits = torch.randn(64, int(frames.max()), 3, generator=generator)
    flat, _ = padded([t or [1] for t in targets])
    raw = F.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1), flat, frames, target_lengths, reduction="none", blank=BLANK
    )
    feasible = ctc_feasible(frames, target_lengths, repeats)
    assert feasible.dtype == torch.bool and 0 < int(feasible.sum()) < 64
    assert torch.equal(feasible, torch.isfinite(raw))
    assert ctc_feasible([3, 2], [2, 2], [1, 1]).tolist() == [True, False]
