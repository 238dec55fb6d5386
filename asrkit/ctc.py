"""CTC helpers for objectives: the loss in float32, log-probabilities, the check that a transcript fits its frames.

Only objectives (kind ``objectives``, e.g. the built-in ``ctc`` and
``inter_ctc``) call these; the trainer, evaluation and the data layer ask the
recipe's objective instead.

CTC can align ``L`` labels to ``T'`` frames only if ``T' ≥ L + R``, where ``R``
counts adjacent repeated labels (``"ll"`` needs a blank between the two
``l``). Utterances that break this have infinite loss; the data layer skips
them through the objective's ``fits`` (:func:`ctc_fits`) and the loss zeroes
whatever still gets through.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from asrkit.padding import valid_mask


class CTCLoss(NamedTuple):
    """``per_utterance``: ``(B,)`` negative log-likelihoods (nats, not normalized);
    ``per_label``: ``(B,)`` the same divided by each target length (at least 1);
    ``mean``: the scalar to optimize, the batch mean of ``per_label``."""

    per_utterance: torch.Tensor
    mean: torch.Tensor
    per_label: torch.Tensor


def ctc_loss(
    logits: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor | Sequence[Sequence[int]],
    target_lengths: torch.Tensor | None = None,
    *,
    blank: int,
) -> CTCLoss:
    """CTC loss of ``(B, T', V)`` unnormalized ``logits`` with ``(B,)`` frame ``lengths``.

    ``targets`` is either a list of ``B`` label-id lists, or a padded ``(B, L)``
    integer tensor with its ``(B,)`` ``target_lengths``. Labels never include
    ``blank`` (the tokenizer's ``blank_id``; required, since tokenizers differ).

    The log-softmax and the loss run in float32 even under fp16/bf16 autocast
    (half precision underflows in the forward-backward sums). Infeasible
    utterances (see :func:`ctc_feasible`) get zero loss and zero gradient
    (``zero_infinity``) instead of an infinity that would poison the batch.

    The reduction is PyTorch's ``"mean"``: each utterance's loss divided by its
    target length (at least 1), averaged over the batch, so long transcripts
    do not dominate and the scale does not depend on the batch size.
    """
    device = logits.device
    if target_lengths is None:
        if isinstance(targets, torch.Tensor):
            raise ValueError("a padded targets tensor needs target_lengths")
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        flat = [label for target in targets for label in target]
        targets = torch.tensor(flat, dtype=torch.long)
    elif not isinstance(targets, torch.Tensor):
        raise ValueError("target_lengths goes with a padded (B, L) targets tensor, not lists")
    targets = targets.to(device=device, dtype=torch.long)
    target_lengths = target_lengths.to(device=device, dtype=torch.long)
    with torch.autocast(device_type=device.type, enabled=False):
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T', B, V)
        per_utterance = F.ctc_loss(
            log_probs,
            targets,
            lengths.to(device=device, dtype=torch.long),
            target_lengths,
            blank=blank,
            reduction="none",
            zero_infinity=True,
        )
    per_label = per_utterance / target_lengths.clamp(min=1)
    return CTCLoss(per_utterance, per_label.mean(), per_label)


def ctc_log_probs(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T', V)`` logits → float32 log-probabilities, with logits 0 (``-log V``) past each row's length.

    Computed in float32 even under autocast; the padding is fixed so that a
    row's output does not depend on what the layer made of padded frames.
    """
    with torch.autocast(device_type=logits.device.type, enabled=False):
        valid = valid_mask(lengths.to(logits.device), logits.shape[1]).unsqueeze(-1)
        return logits.float().masked_fill(~valid, 0.0).log_softmax(dim=-1)


def count_repeats(labels: Sequence[int]) -> int:
    """Adjacent equal pairs in ``labels``: each needs an extra blank frame between them."""
    return sum(1 for a, b in itertools.pairwise(labels) if a == b)


def ctc_feasible(
    output_lengths: torch.Tensor | Sequence[int],
    target_lengths: torch.Tensor | Sequence[int],
    repeats: torch.Tensor | Sequence[int],
) -> torch.Tensor:
    """``(B,)`` bool: whether each utterance's ``T'`` frames can carry its ``L`` labels with ``R`` repeats.

    True exactly when ``T' ≥ L + R`` (see :func:`count_repeats` for ``R``).
    """
    frames = torch.as_tensor(output_lengths)
    needed = torch.as_tensor(target_lengths) + torch.as_tensor(repeats)
    return frames >= needed.to(frames.device)


def ctc_fits(output_lengths: torch.Tensor, targets: Sequence[Sequence[int]]) -> torch.Tensor:
    """``(B,)`` bool: whether each label-id target fits its ``T'`` frames (:func:`ctc_feasible`)."""
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    repeats = torch.tensor([count_repeats(t) for t in targets], dtype=torch.long)
    return ctc_feasible(torch.as_tensor(output_lengths).cpu(), lengths, repeats)
