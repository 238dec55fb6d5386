"""``asrkit new-plugin NAME``: start a plugin package."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir", "parent", default=".", show_default=True, type=click.Path(file_okay=False), help="Parent folder."
)
def new_plugin(name: str, parent: str) -> None:
    """Write a plugin package (asrkit-NAME) that passes its own tests and builds a publishable wheel."""
    from asrkit.newplugin import new_plugin as write

    root = write(name, Path(parent))
    click.echo(f"wrote {root}: cd there, then: pip install -e '.[test]' && pytest && python -m build")
