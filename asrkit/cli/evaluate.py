"""``asrkit evaluate``: WER and CER of a checkpoint, with the same result files as a run."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from asrkit.build import build
from asrkit.engine.checkpoint import load_model
from asrkit.engine.inference import decoder_spec, inference_device
from asrkit.engine.progress import Progress
from asrkit.engine.results import results_table
from asrkit.engine.scoring import dataset_spec, score_checkpoint
from asrkit.errors import RecipeError
from asrkit.quantize import quantize_for_cpu
from asrkit.registry import load_registry


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="DATASET",
    help="A manifest (.jsonl), ROOT:SUBSET (LibriSpeech layout) or a dataset node "
    "'{name: ..., ...}'; repeatable. Default: the recipe's test sets.",
)
@click.option("--decoder", help="Decoder name (e.g. greedy, beam); default: the recipe's decoder.")
@click.option("--decoder-option", "decoder_options", multiple=True, metavar="KEY=VALUE", help="Decoder parameter.")
@click.option(
    "--out", type=click.Path(file_okay=False), help="Result folder (default: evaluations/<checkpoint>-<time>)."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quantize", is_flag=True, help="int8 GRU/Linear weights (CPU only): faster, may cost accuracy.")
@click.option(
    "--num-workers", default=2, show_default=True, type=click.IntRange(min=0), help="Audio reading processes."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(
    checkpoint: str,
    data: tuple[str, ...],
    decoder: str | None,
    decoder_options: tuple[str, ...],
    out: str | None,
    device: str,
    quantize: bool,
    num_workers: int,
    quiet: bool,
) -> None:
    """Score CHECKPOINT: corpus-level WER and CER per dataset.

    Writes results.json and <set>.<decoder>.hyp.jsonl (per-utterance
    references and hypotheses) to the result folder. Example:

    \b
        asrkit evaluate run/checkpoints/best.pt --data data/librispeech:test-other \\
            --decoder beam --decoder-option beam_width=50
    """
    registry = load_registry()
    # int8 dynamic quantization runs on the CPU only, so --quantize picks it unless told otherwise.
    loaded = load_model(checkpoint, registry, inference_device("cpu" if quantize and device == "auto" else device))
    if quantize:
        loaded.model = quantize_for_cpu(loaded.model)
    datasets = [dataset_spec(registry, text) for text in data] or list(loaded.recipe.data.test)
    if not datasets:
        raise RecipeError("the checkpoint's recipe has no test sets: give one or more --data")
    spec = decoder_spec(registry, loaded.recipe.decoder, decoder, decoder_options)
    folder = Path(out) if out else Path("evaluations") / f"{Path(checkpoint).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    console = Console(highlight=False)
    progress = Progress(console, bars=not quiet)
    built = build(registry, spec, tokenizer=loaded.tokenizer)
    try:
        results = score_checkpoint(registry, loaded, datasets, {spec.name: built}, folder, progress, num_workers)
    finally:
        built.close()
        progress.close()
    console.print(results_table({"test": results}))
    console.print(f"results in {folder}")
