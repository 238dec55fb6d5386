"""``asrkit recipe validate``: check a recipe and print it with every default filled in."""

from __future__ import annotations

import click

from asrkit.recipe import dump_yaml, load_recipe
from asrkit.registry import load_registry


@click.group()
def recipe() -> None:
    """Work with recipe files."""


@recipe.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
def validate(file: str, overrides: tuple[str, ...]) -> None:
    """Validate FILE (with KEY=VALUE overrides) and print the resolved recipe."""
    resolved = load_recipe(file, list(overrides), load_registry()).resolved()
    click.echo(dump_yaml(resolved), nl=False)
