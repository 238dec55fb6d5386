"""An exponential moving average of the model's weights (``train.ema_decay``), kept beside the trained weights.

After every optimizer step ``ema = decay · ema + (1 - decay) · weights``
(``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``;
buffers are averaged too). The average is not trained and does not choose
``best.pt``: it is written to ``checkpoints/ema.pt`` after every epoch, and at
the end of the run it is validated and tested beside ``best.pt``. Its state
travels in ``last.pt``, so ``--resume`` continues it. A decay of 0.999 averages
over roughly the last 1,000 steps; small runs want less (0.99).
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

EMA = "ema.pt"


def make_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """A moving average of ``model`` (a copy on the same device), or None when ``decay`` is None."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def ema_weights(ema: AveragedModel) -> dict[str, Any]:
    """The averaged model's ``state_dict``, on the CPU, in the trained model's key names."""
    return {name: tensor.detach().cpu() for name, tensor in ema.module.state_dict().items()}
