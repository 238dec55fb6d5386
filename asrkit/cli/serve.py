"""``asrkit serve``: a checkpoint as an HTTP service with a web page (needs ``pip install 'asrkit[serve]'``)."""

from __future__ import annotations

from pathlib import Path

import click

from asrkit.cli import err_console
from asrkit.errors import PluginError


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--decoder", help="Decoder name (e.g. greedy, beam); default: the recipe's decoder.")
@click.option("--decoder-option", "decoder_options", multiple=True, metavar="KEY=VALUE", help="Decoder parameter.")
@click.option(
    "--nbest", default=1, show_default=True, type=click.IntRange(min=1), help="Most hypotheses a request may ask for."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--max-batch-seconds", default=60.0, show_default=True, type=click.FloatRange(min=1), help="Audio per batch."
)
@click.option("--max-batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Segments per batch.")
@click.option(
    "--max-wait-ms",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Longest a segment waits for others to share its batch (0 and --max-batch-size 1: one at a time).",
)
@click.option("--max-upload-mb", default=50.0, show_default=True, type=click.FloatRange(min=0.001))
@click.option("--max-audio-seconds", default=3600.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads (default: torch's).")
def serve(
    checkpoint: str,
    host: str,
    port: int,
    decoder: str | None,
    decoder_options: tuple[str, ...],
    nbest: int,
    device: str,
    max_batch_seconds: float,
    max_batch_size: int,
    max_wait_ms: float,
    max_upload_mb: float,
    max_audio_seconds: float,
    threads: int | None,
) -> None:
    """Serve the model in CHECKPOINT: a web page at /, POST /transcribe, WebSocket /stream, GET /health.

    \b
      curl -F file=@talk.flac 'http://127.0.0.1:8000/transcribe?segment=vad'
    """
    try:
        import uvicorn

        from asrkit.serve.app import ServeLimits, batch_runner, create_app
        from asrkit.serve.batcher import DynamicBatcher
    except ImportError as exc:
        raise PluginError(f"asrkit serve needs {exc.name}: pip install 'asrkit[serve]'") from None
    import torch

    from asrkit.build import build
    from asrkit.engine.checkpoint import load_model
    from asrkit.engine.inference import decoder_spec, inference_device
    from asrkit.engine.segment import load_vad_model
    from asrkit.registry import load_registry

    if threads is not None:
        torch.set_num_threads(threads)
    load_vad_model()  # fail now, not on the first request, if silero-vad is missing
    registry = load_registry()
    target = inference_device(device)
    loaded = load_model(checkpoint, registry, target)
    loaded.model.eval()
    options = (*decoder_options, f"nbest={nbest}") if nbest > 1 else decoder_options
    built = build(registry, decoder_spec(registry, loaded.recipe.decoder, decoder, options), tokenizer=loaded.tokenizer)
    sample_rate = loaded.recipe.data.sample_rate
    batcher = DynamicBatcher(
        batch_runner(loaded.model, built, target),
        sample_rate,
        max_batch_seconds=max_batch_seconds,
        max_batch_size=max_batch_size,
        max_wait_seconds=max_wait_ms / 1000,
    )
    limits = ServeLimits(round(max_upload_mb * 2**20), max_audio_seconds, max_nbest=nbest)
    app = create_app(sample_rate, Path(checkpoint).name, limits, batcher)
    err_console.print(f"asrkit serve: {checkpoint} on http://{host}:{port}/ (Ctrl-C stops)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        built.close()
