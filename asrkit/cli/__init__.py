"""The ``asrkit`` command line: one click group, one module per command family."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from asrkit import __version__
from asrkit.errors import AsrkitError

err_console = Console(stderr=True, highlight=False)


class Group(click.Group):
    """A click group that prints asrkit errors as one line, without a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AsrkitError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asrkit")
def main() -> None:
    """Train, evaluate and ship CTC speech recognition models from YAML recipes."""


def _register_commands() -> None:
    from asrkit.cli import average, data, evaluate, export, plugins, recipe, run, transcribe

    main.add_command(plugins.list_plugins)
    main.add_command(plugins.show)
    main.add_command(recipe.recipe)
    main.add_command(run.run)
    main.add_command(evaluate.evaluate)
    main.add_command(transcribe.transcribe)
    main.add_command(export.export)
    main.add_command(average.average)
    main.add_command(data.data)


_register_commands()
