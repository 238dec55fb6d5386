"""``asrkit transcribe``: text (or JSON with word timestamps) of audio files, from a checkpoint alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from asrkit.build import build
from asrkit.cli import err_console, escape
from asrkit.data.rates import low_rate_warning
from asrkit.engine.checkpoint import load_model
from asrkit.engine.formats import FORMATS, Format, output_paths, render
from asrkit.engine.inference import decoder_spec, inference_device
from asrkit.engine.transcribe import Transcript
from asrkit.engine.transcribe import transcribe as transcribe_files
from asrkit.errors import RecipeError
from asrkit.files import write_atomic
from asrkit.quantize import quantize_for_cpu
from asrkit.registry import load_registry


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("audio", nargs=-1, required=True)
@click.option("--decoder", help="Decoder name (e.g. greedy, beam); default: the recipe's decoder.")
@click.option("--decoder-option", "decoder_options", multiple=True, metavar="KEY=VALUE", help="Decoder parameter.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per file and line (text, score, words with confidence)."
)
@click.option("--timestamps", is_flag=True, help="Word start and end times in seconds.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="Output format: txt, json, srt or vtt subtitles (one file per input with --output-dir).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write DIR/<input name>.<format> per input instead of printing.",
)
@click.option(
    "--nbest", default=1, show_default=True, type=click.IntRange(min=1), help="Hypotheses per segment (beam decoder)."
)
@click.option(
    "--segment",
    type=click.Choice(["fixed", "vad"]),
    default="fixed",
    show_default=True,
    help="Cut long files into equal chunks, or at silences found by a voice-activity detector (asrkit[vad]).",
)
@click.option(
    "--batch-seconds", default=300.0, show_default=True, type=click.FloatRange(min=1), help="Padded audio per batch."
)
@click.option(
    "--chunk-seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Longest piece decoded at once.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quantize", is_flag=True, help="int8 GRU/Linear weights (CPU only): faster, may cost accuracy.")
def transcribe(
    checkpoint: str,
    audio: tuple[str, ...],
    decoder: str | None,
    decoder_options: tuple[str, ...],
    as_json: bool,
    timestamps: bool,
    output_format: str | None,
    output_dir: Path | None,
    nbest: int,
    segment: str,
    batch_seconds: float,
    chunk_seconds: float,
    device: str,
    quantize: bool,
) -> None:
    """Transcribe AUDIO files (WAV, FLAC, OGG, MP3) with the model in CHECKPOINT.

    \b
    Output, in the order of the files:
      one file             its text
      several files        PATH<TAB>TEXT per file
      --timestamps         START<TAB>END<TAB>WORD per word (PATH<TAB> first with several files)
      --json               {"path", "text", "duration", "score", "confidence", "words": [{"word",
                           "start", "end", "confidence"}], "segments": [{"start", "end", "text",
                           "score"[, "nbest"]}]} per line; an unreadable file gives {"path", "error"}
      --format F           the whole output in format F (txt, json, srt, vtt)
      --output-dir DIR     DIR/<input name>.<txt|json|srt|vtt> per input (default format txt)
    An unreadable file is reported on stderr (one line) and the exit status is
    1, but every other file is still transcribed.
    """
    if as_json:
        if output_format not in (None, "json"):
            raise RecipeError(f"--json and --format {output_format}: choose one")
        output_format = None if output_dir is None else "json"
    if output_dir is not None:
        output_format = output_format or "txt"
        targets = output_paths(list(audio), output_dir, output_format)
    elif output_format in ("srt", "vtt") and len(audio) > 1:
        raise RecipeError(f"--format {output_format} with several files needs --output-dir")
    if nbest > 1:
        decoder_options = (*decoder_options, f"nbest={nbest}")
    registry = load_registry()
    # int8 dynamic quantization runs on the CPU only, so --quantize picks it unless told otherwise.
    target = inference_device("cpu" if quantize and device == "auto" else device)
    loaded = load_model(checkpoint, registry, target)
    if quantize:
        loaded.model = quantize_for_cpu(loaded.model)
    try:
        spec = decoder_spec(registry, loaded.recipe.decoder, decoder, decoder_options)
    except RecipeError as exc:
        if nbest > 1 and "nbest" in str(exc):
            reason = f"--nbest: this decoder gives one hypothesis, use one with an nbest parameter such as beam ({exc})"
            raise RecipeError(reason) from None
        raise
    built = build(registry, spec, tokenizer=loaded.tokenizer)
    for warning in filter(None, (low_rate_warning(path, loaded.recipe.data.sample_rate) for path in audio)):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    try:
        transcripts = transcribe_files(
            loaded.model,
            built,
            list(audio),
            sample_rate=loaded.recipe.data.sample_rate,
            device=target,
            chunk_seconds=chunk_seconds,
            batch_seconds=batch_seconds,
            # Confidences come with the words, so JSON and subtitles always ask for them.
            timestamps=timestamps or as_json or output_format is not None,
            segment=segment,
        )
    finally:
        built.close()
    if output_format is not None:
        _write_outputs(transcripts, output_format, targets if output_dir is not None else None)
        return
    several = len(audio) > 1
    failed = False
    for transcript in transcripts:
        if transcript.error is not None:
            failed = True
            err_console.print(f"[bold red]error:[/] {escape(transcript.error)}", soft_wrap=True)
        if as_json:
            click.echo(json.dumps(transcript.as_json(timestamps=True), ensure_ascii=False))
        elif transcript.error is not None:
            continue
        elif timestamps:
            prefix = f"{transcript.path}\t" if several else ""
            for word in transcript.words or ():
                click.echo(f"{prefix}{word.start:.2f}\t{word.end:.2f}\t{word.word}")
        else:
            click.echo(f"{transcript.path}\t{transcript.text}" if several else transcript.text)
    if failed:
        sys.exit(1)


def _write_outputs(transcripts: list[Transcript], output_format: Format, targets: list[Path] | None) -> None:
    """Each transcript in ``output_format``, to its file in ``targets`` or to stdout; exit 1 if one failed."""
    failed = False
    for index, transcript in enumerate(transcripts):
        if transcript.error is not None:
            failed = True
            err_console.print(f"[bold red]error:[/] {escape(transcript.error)}", soft_wrap=True)
            continue
        contents = render(transcript, output_format)
        if targets is None:
            click.echo(contents, nl=False)
        else:
            write_atomic(targets[index], contents)
    if failed:
        sys.exit(1)
