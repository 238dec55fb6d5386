"""``asrkit doctor``: versions, devices, extras and plugin health, for bug reports."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape

from asrkit.doctor import collect


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(as_json: bool) -> None:
    """Show what asrkit runs on: versions, CUDA, devices, threads, extras and plugin health.

    Exits 1 when something needs fixing (a torch/torchaudio pair that does not
    load, a broken plugin), so scripts can check an environment with it.
    """
    report = collect()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(Console(highlight=False), report)
    if report["problems"]:
        sys.exit(1)


def _print(console: Console, report: dict) -> None:
    def row(label: str, value: object) -> None:
        console.print(f"[bold]{label:<12}[/] {escape(str(value))}")

    row("asrkit", report["asrkit"])
    row("python", f"{report['python']} ({report['executable']})")
    row("platform", report["platform"])
    row("torch", report["torch"] or "not installed")
    row("torchaudio", report["torchaudio"] or "not installed")
    if report["torch_pair_ok"]:
        cuda = report["cuda_build"] or "none (CPU-only build)"
        row("cuda", f"build {cuda}, available: {'yes' if report['cuda_available'] else 'no'}")
        row("cudnn", report["cudnn"] or "-")
        row("devices", ", ".join(report["devices"]))
        row(
            "threads", f"{report['threads']} intra-op, {report['interop_threads']} inter-op, {report['cpu_count']} CPUs"
        )
    extras = ", ".join(
        f"{name} {version}" if version else f"{name} (not installed)" for name, version in report["extras"].items()
    )
    row("extras", extras)
    if "plugins" in report:
        loaded = ", ".join(f"{p['plugin']} ({p['components']})" for p in report["plugins"]["loaded"])
        row("plugins", loaded)
    if report["problems"]:
        console.print("[bold red]problems:[/]")
        for problem in report["problems"]:
            console.print(f"  - {escape(problem)}", soft_wrap=True)
    else:
        console.print("[green]no problems found[/]")
