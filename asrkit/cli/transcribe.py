"""``asrkit transcribe``: text (or JSON with word timestamps) of audio files, from a checkpoint alone."""

from __future__ import annotations

import json
import sys

import click

from asrkit.build import build
from asrkit.cli import err_console, escape
from asrkit.data.rates import low_rate_warning
from asrkit.engine.checkpoint import load_model
from asrkit.engine.inference import decoder_spec, inference_device
from asrkit.engine.transcribe import transcribe as transcribe_files
from asrkit.quantize import quantize_for_cpu
from asrkit.registry import load_registry


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("audio", nargs=-1, required=True)
@click.option("--decoder", help="Decoder name (e.g. greedy, beam); default: the recipe's decoder.")
@click.option("--decoder-option", "decoder_options", multiple=True, metavar="KEY=VALUE", help="Decoder parameter.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line (path, text, duration).")
@click.option("--timestamps", is_flag=True, help="Word start and end times in seconds.")
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
      --json               {"path", "text", "duration"[, "words": [{"word", "start", "end"}]]} per line;
                           a file that cannot be read gives {"path", "error"}
    An unreadable file is reported on stderr (one line) and the exit status is
    1, but every other file is still transcribed.
    """
    registry = load_registry()
    # int8 dynamic quantization runs on the CPU only, so --quantize picks it unless told otherwise.
    target = inference_device("cpu" if quantize and device == "auto" else device)
    loaded = load_model(checkpoint, registry, target)
    if quantize:
        loaded.model = quantize_for_cpu(loaded.model)
    spec = decoder_spec(registry, loaded.recipe.decoder, decoder, decoder_options)
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
            timestamps=timestamps,
        )
    finally:
        built.close()
    several = len(audio) > 1
    failed = False
    for transcript in transcripts:
        if transcript.error is not None:
            failed = True
            err_console.print(f"[bold red]error:[/] {escape(transcript.error)}", soft_wrap=True)
        if as_json:
            click.echo(json.dumps(transcript.as_json(timestamps), ensure_ascii=False))
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
