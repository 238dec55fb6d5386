"""A bidirectional GRU over padded rows with a hand-written backward pass (``rescnn_bigru``'s ``train_rnn: fused``).

Why it exists: PyTorch's CPU GRU leaves its backward pass to autograd, which
replays every time step's matrix products, so each step computes and adds a
whole ``(3H, H)`` weight gradient: most of a CPU training step was
``aten::mm`` and ``aten::add_`` called once per time step (profile in
``docs/benchmarks.md``). Here the backward pass carries only the hidden
state's gradient through time, four small operations a step, and then forms
every weight gradient as one matrix product over all time steps. Both
directions run together, as a batch of two, in each step's product.

The arithmetic is ``nn.GRU``'s, with its weights (gates r, z, n in that
order)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

The backward direction reads each row reversed within its length (see
:func:`reverse_within_lengths`), so, as with ``train_rnn: padded``, every
valid output is exactly the packed GRU's and the padding only costs the
frames it occupies. Gradients reaching padded frames must be zero, which
holds when, as in the encoder, everything past a row's length is masked
before the loss.
"""

from __future__ import annotations

import torch
from torch import nn


def reversal_index(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``(B,)`` lengths → ``(B, T)`` frame order reversing each row's first ``lengths[b]`` frames, padding in place."""
    time = torch.arange(frames, device=lengths.device).unsqueeze(0)
    count = lengths.unsqueeze(1)
    return torch.where(time < count, count - 1 - time, time)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` → each row's first ``lengths[b]`` frames reversed, the padding left in place."""
    return reorder(x, reversal_index(lengths.to(x.device), x.shape[1]))


def reorder(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` frames taken in the ``(B, T)`` ``index`` order along time."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


def recur(
    input_gates: torch.Tensor, weight_hh: torch.Tensor, bias_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run both directions' recurrence over their ``(2, T, B, 3H)`` input gates ``W_i x + b_i``.

    ``weight_hh`` is ``(2, 3H, H)``, ``bias_hh`` ``(2, 1, 3H)``. Returns, time-major so that a step's
    slice is contiguous: the states ``(T + 1, 2, B, H)`` (``[0]`` is the zero initial state, ``[t + 1]``
    the output at ``t``), the reset and update gates ``(T, 2, B, 2H)``, the candidates ``n``
    ``(T, 2, B, H)`` and the hidden gates ``W_h h + b_h`` ``(T, 2, B, 3H)``.
    """
    _, frames, batch, three_hidden = input_gates.shape
    hidden = three_hidden // 3
    states = input_gates.new_zeros(frames + 1, 2, batch, hidden)
    reset_update = input_gates.new_empty(frames, 2, batch, 2 * hidden)
    candidates = input_gates.new_empty(frames, 2, batch, hidden)
    hidden_gates = input_gates.new_empty(frames, 2, batch, three_hidden)
    recurrent_weight = weight_hh.transpose(1, 2)  # (2, H, 3H)
    # Every step's views made up front: per-step Python indexing costs as much as the small operations.
    steps = zip(
        input_gates[..., : 2 * hidden].unbind(1),
        input_gates[..., 2 * hidden :].unbind(1),
        hidden_gates.unbind(0),
        hidden_gates[..., : 2 * hidden].unbind(0),
        hidden_gates[..., 2 * hidden :].unbind(0),
        reset_update.unbind(0),
        reset_update[..., :hidden].unbind(0),
        reset_update[..., hidden:].unbind(0),
        candidates.unbind(0),
        states[1:].unbind(0),
        strict=True,
    )
    state = states[0]
    for gates_rz, gates_n, gates_h, gates_h_rz, gates_h_n, rz, reset, update, candidate, new_state in steps:
        torch.baddbmm(bias_hh, state, recurrent_weight, out=gates_h)
        torch.add(gates_rz, gates_h_rz, out=rz).sigmoid_()
        torch.addcmul(gates_n, reset, gates_h_n, out=candidate).tanh_()
        state = torch.lerp(candidate, state, update, out=new_state)
    return states, reset_update, candidates, hidden_gates


def run_layer(
    x: torch.Tensor, index: torch.Tensor, weights: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Both directions of one layer over ``(B, T, I)`` rows; ``weights`` as :func:`fused_bigru` passes them.

    Returns the direction-first inputs ``(2, T·B, I)``, the stacked weights ``(2, 3H, I)`` and
    ``(2, 3H, H)``, and what :func:`recur` returns.
    """
    w_ih, w_hh, b_ih, b_hh, w_ih_reverse, w_hh_reverse, b_ih_reverse, b_hh_reverse = weights
    batch, frames, _ = x.shape
    # (2, T, B, I): the rows as read forward, then reversed within their lengths.
    inputs = torch.stack([x, reorder(x, index)]).transpose(1, 2).contiguous()
    weight_ih = torch.stack([w_ih, w_ih_reverse])  # (2, 3H, I)
    weight_hh = torch.stack([w_hh, w_hh_reverse])  # (2, 3H, H)
    bias_ih = torch.stack([b_ih, b_ih_reverse]).unsqueeze(1)  # (2, 1, 3H)
    bias_hh = torch.stack([b_hh, b_hh_reverse]).unsqueeze(1)
    flat_inputs = inputs.view(2, frames * batch, -1)
    input_gates = torch.baddbmm(bias_ih, flat_inputs, weight_ih.transpose(1, 2)).view(2, frames, batch, -1)
    return flat_inputs, weight_ih, weight_hh, recur(input_gates, weight_hh, bias_hh)


def layer_output(states: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """:func:`recur`'s ``(T + 1, 2, B, H)`` states → the layer's ``(B, T, 2H)`` output, each row in its own order."""
    output = states[1:].permute(1, 2, 0, 3)  # (2, B, T, H)
    return torch.cat([output[0], reorder(output[1], index)], dim=-1)


class _BiGRURecurrence(torch.autograd.Function):
    """Both directions of one GRU layer at once: direction is the leading batch axis of every product."""

    @staticmethod
    def forward(ctx, x, index, w_ih, w_hh, b_ih, b_hh, w_ih_reverse, w_hh_reverse, b_ih_reverse, b_hh_reverse):
        hidden = w_hh.shape[1]
        weights = (w_ih, w_hh, b_ih, b_hh, w_ih_reverse, w_hh_reverse, b_ih_reverse, b_hh_reverse)
        flat_inputs, weight_ih, weight_hh, (states, reset_update, candidates, hidden_gates) = run_layer(
            x, index, weights
        )

        # The backward pass's per-step coefficients, all time steps at once: with dh the gradient
        # reaching h_t, each gate's pre-activation gradient is dh ⊙ (its coefficient).
        reset, update = reset_update[..., :hidden], reset_update[..., hidden:]
        candidate_grad = (1 - update) * (1 - candidates * candidates)
        update_grad = (states[:-1] - candidates) * update * (1 - update)
        reset_grad = candidate_grad * hidden_gates[..., 2 * hidden :] * reset * (1 - reset)
        # For the recurrent product the n gate's gradient is scaled by r; for the input product it is not.
        coefficients = torch.stack([reset_grad, update_grad, candidate_grad * reset], dim=3)  # (T, 2, B, 3, H)
        ctx.save_for_backward(index, flat_inputs, weight_ih, weight_hh, states, update, coefficients, candidate_grad)
        return layer_output(states, index)

    @staticmethod
    def backward(ctx, grad_output):
        index, flat_inputs, weight_ih, weight_hh, states, update, coefficients, candidate_grad = ctx.saved_tensors
        frames, _, batch, hidden = update.shape
        # (T, 2, B, H), each direction in its own time order.
        output_grads = torch.stack([grad_output[..., :hidden], reorder(grad_output[..., hidden:], index)])
        output_grads = output_grads.permute(2, 0, 1, 3).contiguous()
        state_grads = torch.empty_like(output_grads)
        state_grad = output_grads.new_zeros(2, batch, hidden)
        steps = zip(
            output_grads.unbind(0), state_grads.unbind(0), coefficients.unbind(0), update.unbind(0), strict=True
        )
        for output_grad, total, coefficient, gate in reversed(list(steps)):
            state_grad = torch.add(state_grad, output_grad, out=total)
            gate_grad = (state_grad.unsqueeze(2) * coefficient).view(2, batch, 3 * hidden)
            state_grad = torch.baddbmm(state_grad * gate, gate_grad, weight_hh)

        # Direction-first for the products over all time steps: (2, T·B, 3H).
        by_direction = state_grads.transpose(0, 1)  # (2, T, B, H)
        recurrent_gate_grads = (by_direction.unsqueeze(3) * coefficients.transpose(0, 1)).reshape(
            2, frames * batch, 3 * hidden
        )
        input_gate_grads = recurrent_gate_grads.clone()
        input_gate_grads.view(2, frames * batch, 3, hidden)[:, :, 2] = (
            by_direction * candidate_grad.transpose(0, 1)
        ).reshape(2, frames * batch, hidden)
        previous = states[:-1].transpose(0, 1).reshape(2, frames * batch, hidden)

        grad_w_hh = torch.bmm(recurrent_gate_grads.transpose(1, 2), previous)
        grad_b_hh = recurrent_gate_grads.sum(1)
        grad_w_ih = torch.bmm(input_gate_grads.transpose(1, 2), flat_inputs)
        grad_b_ih = input_gate_grads.sum(1)
        grad_inputs = torch.bmm(input_gate_grads, weight_ih).view(2, frames, batch, -1).transpose(1, 2)
        grad_x = grad_inputs[0] + reorder(grad_inputs[1], index)
        return (
            grad_x,
            None,
            grad_w_ih[0],
            grad_w_hh[0],
            grad_b_ih[0],
            grad_b_hh[0],
            grad_w_ih[1],
            grad_w_hh[1],
            grad_b_ih[1],
            grad_b_hh[1],
        )


@torch.compiler.disable  # dynamo would unroll the time loop; it leaves nn.GRU eager too
def fused_bigru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run the single-layer bidirectional ``gru`` on padded rows: ``(B, T, I)``, ``(B,)`` → ``(B, T, 2H)``.

    Valid frames match ``gru`` on packed sequences; frames past a row's length hold values to be masked.
    The recurrence runs in the weights' dtype, outside autocast: a half-precision hidden state would
    drift over thousands of time steps, and the fp32 path is the one this form is for.
    """
    if not (gru.bidirectional and gru.num_layers == 1 and gru.bias and gru.batch_first):
        raise ValueError("fused_bigru runs single-layer, bidirectional, batch-first GRUs with biases")
    index = reversal_index(lengths.to(x.device), x.shape[1])
    weights = tuple(
        getattr(gru, name + suffix)
        for suffix in ("", "_reverse")
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    )
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(weights[0].dtype)
        if torch.is_grad_enabled() and any(t.requires_grad for t in (x, *weights)):
            return _BiGRURecurrence.apply(x, index, *weights)
        # No gradient wanted (evaluation, transcription): skip the backward pass's coefficients.
        _, _, _, (states, *_) = run_layer(x, index, weights)
        return layer_output(states, index)
