"""``asrkit export``: a checkpoint's acoustic model as an ONNX or TorchScript file."""

from __future__ import annotations

import click

from asrkit.export import FORMATS, export_checkpoint
from asrkit.registry import load_registry


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="onnx", show_default=True, help="File format."
)
@click.option("--out", type=click.Path(dir_okay=False), help="Output file (default: next to CHECKPOINT).")
def export(checkpoint: str, fmt: str, out: str | None) -> None:
    """Export CHECKPOINT's acoustic model to ONNX or TorchScript.

    The features and the encoder, in eval mode, then log_softmax.

    \b
    The graph takes  waveforms (B, S) float32 at the recipe's sample rate, zero past
                     each row's length, and lengths (B,) int64 sample counts;
    and returns      log_probs (B, T', V) float32 and out_lengths (B,) int64.
    Pad to the longest row; read only out_lengths[b] frames of row b. A JSON file
    next to the output gives the labels, blank id, sample rate and frame duration.
    The export is run once on new shapes and compared with PyTorch before it is kept.
    ONNX needs: pip install 'asrkit[export]'.
    """
    result = export_checkpoint(checkpoint, fmt, out, load_registry())  # type: ignore[arg-type]
    click.echo(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.1f} MB) and {result.metadata_path}")
    click.echo(f"largest log-probability difference to PyTorch on new shapes: {result.max_difference:.2g}")
