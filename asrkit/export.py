"""Exporting a checkpoint's acoustic model to ONNX or TorchScript, to run without asrkit.

The exported graph is the model's feature extractor, encoder and objective in
eval mode (augmenters do nothing in eval mode and are left out); the
objective's ``forward`` gives the log-probabilities decoders read:

- inputs: ``waveforms`` ``(B, S)`` float32 mono at the recipe's sample rate,
  zero past each row's length, and ``lengths`` ``(B,)`` int64 sample counts;
- outputs: ``log_probs`` ``(B, T', V)`` float32 log-probabilities (CTC's, for ``ctc``) and
  ``out_lengths`` ``(B,)`` int64 valid output frames of each row.

``B`` and ``S`` are free. ``T'`` follows from ``S`` (for log_mel and
rescnn_bigru, ``T = S // hop + 1`` and ``T' = (T - 1) // 2 + 1``), so pad to
the longest row: wider input only adds frames past every length. Frames past
a row's length carry logits 0, i.e. log-probabilities ``-log V``; a decoder
must read only ``out_lengths[b]`` frames of row ``b``. Decoding and the
tokenizer are not in the graph: a JSON file next to it (``<out>.json``) gives
the labels (class id → text, blank as ``""``), the blank id, the sample rate
and the seconds per output frame.

A component that ``torch.jit.trace`` or ``torch.export`` cannot capture as it
is (data-dependent shapes, packed sequences) declares the
:class:`asrkit.interfaces.Exportable` capability: ``export_module()`` returns
a module with the same ``forward`` contract and the same outputs on every
valid frame; rescnn_bigru does (see :mod:`asrkit_plugins.encoders.rescnn_bigru_export`).
Every export is checked before it is kept: the exported file is loaded and
run on two rows of different lengths, and must give the PyTorch model's
log-probabilities on every valid frame.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from asrkit.engine.checkpoint import load_model
from asrkit.errors import AsrkitError
from asrkit.interfaces import Exportable
from asrkit.model import AcousticModel
from asrkit.registry import Registry

Format = Literal["onnx", "torchscript"]
FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".ts.pt"}
"""Export formats and the suffix of their default file name."""

INPUT_NAMES = ("waveforms", "lengths")
OUTPUT_NAMES = ("log_probs", "out_lengths")
ONNX_OPSET = 18
TOLERANCE = 1e-4
"""Largest difference in log-probability allowed between the exported graph and PyTorch (float32 reordering)."""


class ExportError(AsrkitError):
    """The model cannot be exported, or the exported graph does not reproduce it."""


class ExportedModel(nn.Module):
    """``(B, S)`` waveforms, ``(B,)`` sample counts → ``(B, T', V)`` log-probabilities, ``(B,)`` frame counts."""

    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        self.features = export_form(model.features)
        self.encoder = export_form(model.encoder)
        self.objective = export_form(model.objective)
        self.eval()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, frames = self.features(waveforms, lengths)
        hidden, out_lengths = self.encoder(features, frames)
        return self.objective(hidden, out_lengths).float(), out_lengths


def export_form(component: nn.Module) -> nn.Module:
    """The component's ``export_module()`` when it is :class:`Exportable`, else the component itself."""
    return component.export_module() if isinstance(component, Exportable) else component


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata_path: Path
    max_difference: float


def default_output(checkpoint: str | Path, fmt: Format) -> Path:
    """``run/checkpoints/best.pt`` → ``run/checkpoints/best.onnx`` (or ``best.ts.pt``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + FORMATS[fmt])


def export_checkpoint(checkpoint: str | Path, fmt: Format, out: str | Path | None, registry: Registry) -> ExportResult:
    """Export the acoustic model of ``checkpoint`` to ``out`` (default: next to it), with its ``.json`` metadata."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; formats: {', '.join(FORMATS)}")
    loaded = load_model(checkpoint, registry, "cpu")
    path = Path(out) if out is not None else default_output(checkpoint, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample_rate = loaded.recipe.data.sample_rate
    module = ExportedModel(loaded.model)
    inputs = example_inputs(sample_rate)
    try:
        if fmt == "onnx":
            export_onnx(module, inputs, path)
        else:
            export_torchscript(module, inputs, path)
    except ExportError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"exporting {checkpoint} to {fmt} failed: {type(exc).__name__}: {first}") from exc
    difference = check_export(loaded.model, path, fmt, probe_inputs(sample_rate))
    metadata_path = path.with_name(path.name + ".json")
    metadata_path.write_text(json.dumps(metadata(loaded, fmt), indent=2) + "\n", encoding="utf-8")
    return ExportResult(path, metadata_path, difference)


def metadata(loaded: Any, fmt: Format) -> dict[str, Any]:
    """What a program running the exported graph needs to decode its output."""
    tokenizer = loaded.tokenizer
    return {
        "format": fmt,
        "inputs": {"waveforms": "(B, S) float32", "lengths": "(B,) int64 sample counts"},
        "outputs": {"log_probs": "(B, T', V) float32", "out_lengths": "(B,) int64 frame counts"},
        "sample_rate": loaded.recipe.data.sample_rate,
        "frame_seconds": loaded.model.frame_seconds,
        "blank_id": tokenizer.blank_id,
        "labels": list(tokenizer.labels),
        "recipe": loaded.checkpoint["recipe"],
    }


def example_inputs(sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of unequal length: shapes other than 0 and 1 keep the traced graph general."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([sample_rate, sample_rate * 3 // 5])
    waveforms = 0.1 * torch.randn(2, sample_rate, generator=generator)
    return waveforms.masked_fill(torch.arange(sample_rate) >= lengths.unsqueeze(1), 0.0), lengths


def probe_inputs(sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three rows, none of the example's lengths: a graph that froze a shape fails on them."""
    generator = torch.Generator().manual_seed(1)
    width = sample_rate * 7 // 4
    lengths = torch.tensor([width, sample_rate // 4, sample_rate + 37])
    waveforms = 0.1 * torch.randn(3, width, generator=generator)
    return waveforms.masked_fill(torch.arange(width) >= lengths.unsqueeze(1), 0.0), lengths


def export_torchscript(module: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor], path: Path) -> None:
    """Trace ``module`` on ``inputs`` and save it for ``torch.jit.load``."""
    with warnings.catch_warnings():
        # torch 2.11 marks torch.jit deprecated; the tracer's shape warnings are checked by check_export instead.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(module, inputs, check_trace=False)
        torch.jit.save(traced, str(path))


def export_onnx(module: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor], path: Path) -> None:
    """``torch.onnx.export`` with free batch size and length, through the TorchScript-based exporter.

    That exporter maps ``nn.GRU`` to the ONNX ``GRU`` operator, whose time axis
    stays free. The ``torch.export``-based one (``dynamo=True``) traces through
    torch's GRU decomposition, a Python loop over time steps, and so fixes the
    number of frames of the example.
    """
    _require("onnx", "ONNX export")
    axes = {
        "waveforms": {0: "batch", 1: "samples"},
        "lengths": {0: "batch"},
        "log_probs": {0: "batch", 1: "frames"},
        "out_lengths": {0: "batch"},
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch 2.11 marks this exporter deprecated
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )


def run_exported(path: Path, fmt: Format, inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Load the exported file and run it on ``inputs``: ``(log_probs, out_lengths)``."""
    if fmt == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.11 marks torch.jit deprecated
            return tuple(torch.jit.load(str(path))(*inputs))
    onnxruntime = _require("onnxruntime", "checking an ONNX export")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, inputs, strict=True)}
    return tuple(torch.from_numpy(array) for array in session.run(list(OUTPUT_NAMES), feeds))


def check_export(model: AcousticModel, path: Path, fmt: Format, inputs: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Largest log-probability difference to ``model`` on valid frames; :class:`ExportError` above :data:`TOLERANCE`.

    ``inputs`` must have a row as long as the padded width, so both give the same number of frames.
    """
    with torch.no_grad():
        expected, expected_lengths = model.eval().log_probs(*inputs)
    got, got_lengths = run_exported(path, fmt, inputs)
    if got.shape != expected.shape or not torch.equal(got_lengths.long(), expected_lengths):
        raise ExportError(
            f"the exported {fmt} graph gives shape {tuple(got.shape)} and lengths {got_lengths.tolist()}, "
            f"PyTorch {tuple(expected.shape)} and {expected_lengths.tolist()}"
        )
    valid = torch.arange(expected.shape[1]) < expected_lengths.unsqueeze(1)
    difference = float((got - expected).abs()[valid].max())
    if not difference <= TOLERANCE:
        raise ExportError(f"the exported {fmt} graph differs from PyTorch by {difference:.3g} in log-probability")
    return difference


def _require(module: str, purpose: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"{purpose} needs the '{module}' package: pip install 'asrkit[export]'") from None
