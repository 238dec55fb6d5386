"""``asrkit list-plugins`` and ``asrkit show``: what is installed and how to configure it."""

from __future__ import annotations

import json

import click
import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asrkit.config import FieldInfo, describe, did_you_mean
from asrkit.errors import RecipeError
from asrkit.interfaces import KINDS
from asrkit.registry import ComponentInfo, load_registry

FIND_MORE = (
    "More plugins: pip packages that declare entry points in the 'asrkit' group; "
    "search PyPI for the keyword 'asrkit-plugin'."
)

KIND_ALIASES = {kind.rstrip("s"): kind for kind in KINDS}
"""Singular names: ``encoder`` for ``encoders``, ``feature`` for ``features``."""


def normalize_kind(kind: str) -> str:
    """Accept ``encoder`` or ``encoders``."""
    if kind in KINDS:
        return kind
    if kind in KIND_ALIASES:
        return KIND_ALIASES[kind]
    raise RecipeError(f"unknown component kind '{kind}'; kinds: {', '.join(KINDS)}" + did_you_mean(kind, KINDS))


WIDE_TABLE = 120
"""Terminal columns from which ``list-plugins`` also shows each component's plugin (entry point) name."""


@click.command("list-plugins")
@click.option("--kind", "kind", help="Only components of this kind (e.g. encoders).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_plugins(kind: str | None, as_json: bool) -> None:
    """List every installed component, with its plugin, package and version."""
    registry = load_registry()
    kind = normalize_kind(kind) if kind else None
    components = registry.components(kind)
    if as_json:
        rows = [{**c.as_json(), "error": None} for c in components]
        rows += [
            {
                "kind": None,
                "name": None,
                "plugin": b.name,
                "package": b.package,
                "version": b.version,
                "description": "",
                "error": b.error,
            }
            for b in registry.broken
        ]
        rows += [
            {"kind": None, "name": None, "plugin": w.name, "package": w.package, "version": w.version,
             "description": "", "error": None, "warning": w.error}
            for w in registry.hook_warnings()
        ]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    console = Console(highlight=False)
    table = Table(title="asrkit components", box=box.SIMPLE_HEAD, show_edge=False)
    columns = {"Kind": "kind", "Name": "name", "Plugin": "plugin", "Package": "package", "Version": "version"}
    if console.width < WIDE_TABLE:
        del columns["Plugin"]  # the entry point's name matters when debugging a plugin; --json has it
    rows = [[getattr(c, field) for field in columns.values()] for c in components]
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=True, min_width=max([len(column), *(len(r[i]) for r in rows)]))
    # Only the description wraps: names and versions stay whole in a narrow terminal.
    table.add_column("Description", ratio=1, min_width=16)
    for row, c in zip(rows, components, strict=True):
        table.add_row(*row, escape(c.description))
    console.print(table)
    if registry.broken:
        broken = Table(title="Broken plugins", title_style="bold red")
        for column in ("Plugin", "Package", "Version", "Error"):
            broken.add_column(column, overflow="fold")
        for b in registry.broken:
            broken.add_row(b.name, b.package, b.version, escape(b.error))
        console.print(broken)
    for warning in registry.hook_warnings():
        console.print(f"warning: plugin '{warning.name}' ({warning.package}): {escape(warning.error)}", style="yellow")
    console.print(FIND_MORE, style="dim")


@click.command()
@click.argument("kind")
@click.argument("name")
@click.option("--markdown", is_flag=True, help="Print a Markdown table (for docs) instead of YAML.")
def show(kind: str, name: str, markdown: bool) -> None:
    """Show a component's parameters as YAML to paste into a recipe."""
    registry = load_registry()
    info = registry.get(normalize_kind(kind), name)
    click.echo(component_markdown(info) if markdown else component_yaml(info), nl=False)


def component_yaml(info: ComponentInfo) -> str:
    """The component as a commented recipe node: every field, its type, default and help."""
    lines = [
        f"# {info.kind} '{info.name}' from plugin '{info.plugin}' ({info.package} {info.version})",
        f"# {info.description}" if info.description else None,
        f"name: {info.name}",
    ]
    for f in describe(info.cls.Config):
        value = "???  # required" if f.required else _yaml_value(f.default)
        comment = f"{f.type}" + (f"; {f.help}" if f.help else "")
        lines.append(f"{f.name}: {value}  # {comment}")
    return "\n".join(line for line in lines if line is not None) + "\n"


def component_markdown(info: ComponentInfo) -> str:
    """The component's parameters as a Markdown section."""
    out = [
        f"### `{info.name}`",
        "",
        info.description or "",
        "",
        "| parameter | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for f in describe(info.cls.Config):
        out.append(f"| `{f.name}` | {_md(f.type)} | {_md_default(f)} | {_md(f.help)} |")
    return "\n".join(out) + "\n"


def _yaml_value(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_default(f: FieldInfo) -> str:
    return "required" if f.required else f"`{_yaml_value(f.default)}`"
