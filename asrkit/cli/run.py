"""``asrkit run``: validate a recipe, build every component, and train."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from asrkit.build import build, build_model
from asrkit.recipe import dump_yaml, load_recipe
from asrkit.registry import load_registry


def default_run_dir(recipe_file: str) -> Path:
    return Path("runs") / f"{Path(recipe_file).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


@click.command()
@click.argument("recipe_file", metavar="RECIPE", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<recipe>-<time>).")
def run(recipe_file: str, overrides: tuple[str, ...], out: str | None) -> None:
    """Train the model of RECIPE, with KEY=VALUE overrides (e.g. train.epochs=3)."""
    console = Console(highlight=False)
    registry = load_registry()
    recipe = load_recipe(recipe_file, list(overrides), registry)
    run_dir = Path(out) if out else default_run_dir(recipe_file)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(dump_yaml(recipe.resolved()), encoding="utf-8")
    datasets = [build(registry, spec) for spec in (*recipe.data.train, *recipe.data.valid, *recipe.data.test)]
    tokenizer = build(registry, recipe.tokenizer)
    model = build_model(registry, recipe, tokenizer)
    decoder = build(registry, recipe.decoder, tokenizer=tokenizer)
    decoder.close()
    params = sum(p.numel() for p in model.parameters())
    console.print(
        f"built {len(datasets)} datasets, {recipe.tokenizer.name} tokenizer ({tokenizer.num_classes} classes), "
        f"model with {params:,} parameters, {recipe.decoder.name} decoder; resolved recipe in {run_dir}"
    )
