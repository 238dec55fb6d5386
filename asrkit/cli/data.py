"""``asrkit data``: write a manifest from a LibriSpeech-layout corpus, and check a manifest."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from asrkit.build import build
from asrkit.data.check import CHECKS, CheckOptions, check_manifest
from asrkit.data.manifest import read_manifest, write_manifest
from asrkit.errors import DataError, RecipeError
from asrkit.recipe import component
from asrkit.registry import load_registry
from asrkit.text import DEFAULT_ALPHABET, TextNormalizer


@click.group()
def data() -> None:
    """Prepare and check datasets."""


@data.command()
@click.argument("root", type=click.Path(file_okay=False))
@click.option("--subset", required=True, help="Folder under ROOT/LibriSpeech/, e.g. train-clean-100.")
@click.option("--out", type=click.Path(dir_okay=False), help="Manifest to write (default: <subset>.jsonl).")
@click.option("--download", is_flag=True, help="Download the subset from OpenSLR if it is missing.")
def prepare(root: str, subset: str, out: str | None, download: bool) -> None:
    """Write a manifest (with durations) of a LibriSpeech-layout corpus under ROOT."""
    registry = load_registry()
    node = registry.open_dataset(f"{root}:{subset}")
    if node is None:
        raise RecipeError(f"{root}:{subset}: no loaded dataset plugin reads a ROOT:SUBSET corpus")
    if download:
        node = {**node, "download": True}
    dataset = build(registry, component(registry, "datasets", node, "data prepare"))
    dataset.prepare()
    utterances = dataset.utterances()
    target = Path(out or f"{subset}.jsonl")
    target.parent.mkdir(parents=True, exist_ok=True)
    count = write_manifest(target, utterances)
    hours = sum(u.duration for u in utterances) / 3600
    Console(highlight=False).print(f"wrote {count} utterances ({hours:.2f} h) to {escape(str(target))}")


@data.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--sample-rate", default=16000, show_default=True, help="Rate the audio is decoded at.")
@click.option("--alphabet", default=DEFAULT_ALPHABET, show_default=True, help="Characters a transcript may use.")
@click.option("--frame-seconds", default=0.02, show_default=True, help="Seconds per model output frame (CTC).")
@click.option("--tolerance", default=0.1, show_default=True, help="Seconds a duration may differ from the file.")
@click.option("--no-decode", is_flag=True, help="Read only audio headers (fast; misses corrupt audio data).")
def check(
    manifest: str, sample_rate: int, alphabet: str, frame_seconds: float, tolerance: float, no_decode: bool
) -> None:
    """Check MANIFEST's files and transcripts; exit with status 1 when anything is wrong."""
    if frame_seconds <= 0 or sample_rate <= 0:
        raise click.BadParameter("--frame-seconds and --sample-rate must be positive")
    path = Path(manifest)
    if not path.is_file():
        raise DataError(f"no manifest {path}")
    options = CheckOptions(sample_rate, alphabet, frame_seconds, tolerance, decode=not no_decode)
    utterances = list(read_manifest(path))
    console = Console(highlight=False)
    try:
        normalize = TextNormalizer(alphabet)
    except RecipeError as exc:
        raise click.BadParameter(str(exc).removeprefix("alphabet: "), param_hint="--alphabet") from None
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("checking", total=len(utterances))
        report = check_manifest(path, options, normalize, lambda: progress.advance(task), utterances)
    table = Table(title=f"{escape(str(path))}: {len(utterances)} utterances")
    for column in ("Check", "Count", "First examples"):
        table.add_column(column, overflow="fold")
    for name in CHECKS:
        count = report.count(name)
        style = "red" if count else "green"
        table.add_row(name, f"[{style}]{count}[/]", escape("\n".join(report.examples(name))))
    console.print(table)
    if report.total:
        found = ", ".join(f"{report.count(name)} {name}" for name in CHECKS if report.count(name))
        raise DataError(
            f"{path}: {_plural(report.total, 'problem')} in {_plural(len(utterances), 'utterance')}: {found}"
        )
    console.print("[green]no problems found[/]")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
