"""``asrkit average``: one checkpoint whose weights are the mean of several of the same recipe."""

from __future__ import annotations

from pathlib import Path

import click

from asrkit.engine.averaging import write_average


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write.")
def average(checkpoints: tuple[str, ...], out: str) -> None:
    """Average the model weights of CHECKPOINTS (e.g. a run's checkpoints/top/*.pt) into --out.

    The checkpoints must hold the same model and vocabulary; the recipe and
    tokenizer of the first are kept. The result evaluates, exports and
    transcribes like any checkpoint.
    """
    path = write_average([Path(c) for c in checkpoints], Path(out))
    click.echo(f"wrote {path}: the average of {len(checkpoints)} checkpoint(s)")
