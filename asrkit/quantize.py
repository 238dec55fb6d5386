"""Dynamic int8 quantization of a trained model, for faster inference on the CPU.

The weights of every ``nn.GRU`` and ``nn.Linear`` are stored as int8 (one
scale per tensor) and activations are quantized on the fly, batch by batch;
convolutions, layer norms and the features stay float32. For rescnn_bigru the
GRUs and linear layers are almost all of the compute, so this is where the
time goes down (see ``bench/transcribe_rtf.py`` and ``docs/benchmarks.md`` for
the measured speed and WER cost). Quantized GRUs accept packed sequences, so
padding still never reaches a valid frame through the recurrence; but each
activation scale is taken over the whole batch, so an utterance's outputs
move slightly with the other utterances (and padding) of its batch, which a
float model never does.

It uses ``torch.ao.quantization.quantize_dynamic``, which torch 2.11 marks as
deprecated in favour of torchao's ``quantize_``; torchao quantizes linear
layers only, not GRUs, so it would leave the costliest part in float32. When
a later torch removes the API, :func:`quantize_for_cpu` says so in one line.
Quantized kernels run on the CPU only.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from asrkit.errors import AsrkitError

QUANTIZED_TYPES: frozenset[type[nn.Module]] = frozenset({nn.GRU, nn.Linear})
"""Module types whose weights become int8."""


def quantize_for_cpu(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (on the CPU, in eval mode) with int8 GRU and Linear weights; ``model`` is unchanged."""
    if any(t.device.type != "cpu" for t in [*model.parameters(), *model.buffers()]):
        raise AsrkitError("--quantize runs on the CPU only: add --device cpu")
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        raise AsrkitError(
            f"--quantize needs torch.ao.quantization.quantize_dynamic, which torch {torch.__version__} "
            "no longer has; run without --quantize"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
        quantized = quantize_dynamic(model, set(QUANTIZED_TYPES), dtype=torch.qint8, inplace=False)
    return quantized.eval()


def is_quantized(model: nn.Module) -> bool:
    """Whether any submodule of ``model`` is a dynamically quantized one."""
    return any(type(module).__module__.startswith("torch.ao.nn.quantized") for module in model.modules())
