"""The ``asrkit`` command line: one click group, one module per command family."""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console
from rich.markup import escape

from asrkit import __version__
from asrkit.compat import check_torch_pair
from asrkit.errors import AsrkitError

err_console = Console(stderr=True, highlight=False)


UNCHECKED_COMMANDS = ("doctor",)
"""Commands that run without the torch/torchaudio start-up check: ``doctor`` reports the problem itself."""


def _command_name(args: list[str]) -> str | None:
    """The subcommand in ``args`` (the first word that is not an option), if any."""
    return next((arg for arg in args if not arg.startswith("-")), None)


COMMANDS = {
    "list-plugins": "asrkit.cli.plugins:list_plugins",
    "show": "asrkit.cli.plugins:show",
    "recipe": "asrkit.cli.recipe:recipe",
    "run": "asrkit.cli.run:run",
    "evaluate": "asrkit.cli.evaluate:evaluate",
    "transcribe": "asrkit.cli.transcribe:transcribe",
    "export": "asrkit.cli.export:export",
    "average": "asrkit.cli.average:average",
    "serve": "asrkit.cli.serve:serve",
    "data": "asrkit.cli.data:data",
    "doctor": "asrkit.cli.doctor:doctor",
    "new-plugin": "asrkit.cli.newplugin:new_plugin",
}
"""Every command and where it lives, imported on first use (their modules import torch and torchaudio)."""


class Group(click.Group):
    """A click group that prints asrkit errors as one line, without a traceback.

    Before anything else, even ``--help``, it checks that torch and torchaudio
    load together (:mod:`asrkit.compat`): a broken pair would otherwise end
    every command in a traceback from deep inside an import. That is why the
    commands in :data:`COMMANDS` are imported only when first looked up.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._pending = dict(COMMANDS)
        super().__init__(*args, **kwargs)

    def _load(self, name: str) -> None:
        target = self._pending.pop(name, None)
        if target is not None:
            module, attribute = target.split(":")
            self._commands[name] = getattr(importlib.import_module(module), attribute)

    @property
    def commands(self) -> dict[str, click.Command]:
        for name in list(self._pending):
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = value

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._pending, *self._commands})

    def main(self, args: list[str] | None = None, *rest: object, **kwargs: object) -> object:
        words = list(sys.argv[1:] if args is None else args)
        if _command_name(words) not in UNCHECKED_COMMANDS:
            problem = check_torch_pair().problem
            if problem is not None:
                err_console.print(f"[bold red]error:[/] {escape(problem)}", soft_wrap=True)
                sys.exit(1)
        return super().main(args, *rest, **kwargs)

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
