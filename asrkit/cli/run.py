"""``asrkit run``: train, validate and test a recipe (also under torchrun, or with ``--nproc N``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from asrkit.engine.distributed import torchrun_command, world_from_env
from asrkit.engine.session import RunOptions, default_run_dir
from asrkit.engine.session import run as run_recipe
from asrkit.errors import RecipeError


@click.command()
@click.argument("recipe_file", metavar="RECIPE", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<recipe>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoints/last.pt.")
@click.option("--quiet", is_flag=True, help="No progress bars: a line per epoch, for logs.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    help="Train on N local processes: re-runs this command under torchrun (DDP).",
)
def run(
    recipe_file: str, overrides: tuple[str, ...], out: str | None, resume: bool, quiet: bool, nproc: int | None
) -> None:
    """Train the model of RECIPE, with KEY=VALUE overrides (e.g. train.epochs=3).

    Writes the run directory: recipe.yaml, metrics.jsonl, checkpoints/last.pt
    and best.pt, results.json and per-utterance hypotheses of each test set.
    Under torchrun (torchrun --nproc_per_node N -m asrkit run RECIPE)
    each process trains on its share of every batch plan.
    """
    if resume and out is None:
        raise RecipeError("--resume needs --out RUN_DIR: the run directory to continue")
    if nproc is not None and nproc > 1 and not world_from_env().distributed:
        # The folder is named here, once: ranks started a second apart would disagree on a timestamp.
        args = ["run", recipe_file, *overrides, "--out", str(out or default_run_dir(recipe_file))]
        args += ["--resume"] * resume + ["--quiet"] * quiet
        command = torchrun_command(nproc, args)
        sys.stdout.flush()
        os.execvp(command[0], command)
    run_recipe(RunOptions(recipe_file, overrides, Path(out) if out else None, resume, quiet))
