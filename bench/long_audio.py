"""``transcribe --segment vad`` on a generated long recording: time, peak memory, segments; prints one JSON object.

The recording (``--minutes`` long, one hour by default) is the demo test
utterances in a loop, each followed by a pause of 0.2 to 1.5 s of faint
noise, with a stretch of digital silence (all zeros) every ten minutes. It is
written block by block to a temporary FLAC file, so generating it needs no
memory either. A child process then transcribes it as ``asrkit transcribe
--segment vad --json`` does; its peak RSS (``ru_maxrss``) is reported beside
the RSS of the same child after loading the model (before transcribing), so
the difference is what the recording's length costs. Also checked: the word
timestamps rise monotonically, and no word falls in the digital silence.

    .venv/bin/python bench/long_audio.py --checkpoint runs/mini-*/checkpoints/best.pt
    .venv/bin/python bench/long_audio.py --checkpoint best.pt --minutes 2   # quick
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

RATE = 16000
SILENCE_EVERY_SECONDS = 600.0
SILENCE_SECONDS = 30.0
EDGE_SECONDS = 0.3


def generate(path: Path, minutes: float, corpus: Path) -> list[tuple[float, float]]:
    """Write the recording; the digital-silence stretches in it, in seconds."""
    clips = [soundfile.read(f, dtype="float32")[0] for f in sorted(corpus.rglob("*.flac"))]
    rng = np.random.default_rng(0)
    total = minutes * 60 * RATE
    written, index, silences = 0, 0, []
    next_silence = SILENCE_EVERY_SECONDS * RATE
    with soundfile.SoundFile(path, "w", samplerate=RATE, channels=1, format="FLAC") as out:
        while written < total:
            if written >= next_silence:
                block = np.zeros(int(SILENCE_SECONDS * RATE), dtype=np.float32)
                silences.append((written / RATE, (written + len(block)) / RATE))
                next_silence += SILENCE_EVERY_SECONDS * RATE
            else:
                pause = rng.normal(0, 0.002, int(rng.uniform(0.2, 1.5) * RATE)).astype(np.float32)
                block = np.concatenate([clips[index % len(clips)], pause])
                index += 1
            block = block[: int(total - written)]
            out.write(block)
            written += len(block)
    return silences


def child(checkpoint: str, audio: str, batch_seconds: float) -> None:
    """Transcribe ``audio`` and print the result's checks and this process's memory."""
    import torch

    from asrkit.build import build
    from asrkit.engine.checkpoint import load_model
    from asrkit.engine.transcribe import transcribe
    from asrkit.registry import load_registry

    torch.set_num_threads(1)
    registry = load_registry()
    loaded = load_model(checkpoint, registry, "cpu")
    decoder = build(registry, loaded.recipe.decoder, tokenizer=loaded.tokenizer)
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    (result,) = transcribe(
        loaded.model,
        decoder,
        [audio],
        sample_rate=loaded.recipe.data.sample_rate,
        device=torch.device("cpu"),
        timestamps=True,
        segment="vad",
        batch_seconds=batch_seconds,
    )
    seconds = time.perf_counter() - start
    starts = [w.start for w in result.words or ()]
    report = {
        "error": result.error,
        "seconds": round(seconds, 1),
        "segments": len(result.segments),
        "longest_segment_s": round(max((s.end - s.start for s in result.segments), default=0.0), 2),
        "words": len(starts),
        "monotonic": all(a <= b for a, b in itertools.pairwise(starts)),
        "word_starts": starts,
        "rss_after_load_mb": round(loaded_rss, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--corpus", type=Path, default=Path("data/demo/LibriSpeech/test"))
    parser.add_argument("--batch-seconds", type=float, default=300.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.checkpoint, args.child[0], args.batch_seconds)
        return
    with tempfile.TemporaryDirectory() as folder:
        audio = Path(folder) / "long.flac"
        silences = generate(audio, args.minutes, args.corpus)
        command = [sys.executable, __file__, "--checkpoint", args.checkpoint, "--child", str(audio), "x"]
        command += ["--batch-seconds", str(args.batch_seconds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        report = json.loads(done.stdout)
        file_mb = audio.stat().st_size / 2**20
    starts = report.pop("word_starts")
    # A word may start just before a stretch of silence ends (the segment's padding); count only the inside.
    in_silence = sum(any(a + EDGE_SECONDS <= s < b - EDGE_SECONDS for a, b in silences) for s in starts)
    audio_seconds = args.minutes * 60
    report = {
        "audio_minutes": args.minutes,
        "flac_mb": round(file_mb, 1),
        "whole_waveform_mb": round(audio_seconds * RATE * 4 / 2**20, 1),
        "rtf": round(report["seconds"] / audio_seconds, 4),
        "words_in_digital_silence": in_silence,
        **report,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
