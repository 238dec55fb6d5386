"""Generate ``data/cross_synth/``: the demo's vocabulary spoken by other synthesizers, for robustness checks.

The demo corpus (``data/demo``) is all espeak-ng, a formant synthesizer; a
model trained on it can learn espeak-ng rather than speech. This set is the
same 20-word task spoken by voices of *other synthesizer families*, none ever
used in training:

* ``dev`` (for choosing between recipes): flite's ``kal16`` diphone voice.
* ``test`` (reported only, never tuned on): flite's ``slt`` (US female) and
  ``rms`` (US male), cluster-unit selection voices made from recordings of real
  speakers, flite's ``awb`` (Scottish male, unit selection), and festival's
  ``kal_diphone`` (US male diphone voice, festival's own waveform synthesis).

Each voice speaks at its own duration stretch. Audio goes through the demo's
own finishing (16 kHz, silence trimmed to 50 ms, peak normalised, white noise,
10-bit quantisation, 16-bit FLAC; see ``scripts/make_demo_corpus.py``), so the
only differences from the training data are the synthesizer and the voice. The
layout is LibriSpeech's, so the ``librispeech`` dataset reads it:
``<out>/LibriSpeech/{dev,test}/<speaker>/<chapter>/...``.

Requires ``flite`` and ``festival`` (``text2wave``) on PATH (Debian:
``apt-get install flite festival``) and numpy and soundfile.

Usage::

    python scripts/make_cross_synth_eval.py [--out data/cross_synth] [--seed 0] [--force]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_corpus import SAMPLE_RATE, make_transcripts, resample, to_pcm16, trim_silence


@dataclass(frozen=True)
class Voice:
    id: int
    split: str
    synthesizer: str  # "flite" or "festival"
    voice: str
    stretch: float  # duration stretch: > 1 is slower
    peak_dbfs: float
    noise_dbfs: float
    utterances: int
    sex: str


VOICES: tuple[Voice, ...] = (
    Voice(5001, "dev", "flite", "kal16", 1.0, -2.0, -56.0, 10, "M"),
    Voice(6001, "test", "flite", "slt", 1.0, -1.0, -57.0, 10, "F"),
    Voice(6002, "test", "flite", "rms", 0.9, -2.0, -55.0, 10, "M"),
    Voice(6003, "test", "flite", "awb", 1.1, -1.0, -58.0, 10, "M"),
    Voice(6004, "test", "festival", "kal_diphone", 1.0, -3.0, -54.0, 10, "M"),
)


def synthesize(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    """Speak ``text``; return float64 mono samples and their rate."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        if voice.synthesizer == "flite":
            command = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={voice.stretch}"]
            subprocess.run([*command, "-t", text, "-o", str(out)], capture_output=True, check=True)
        else:
            (Path(tmp) / "text.txt").write_text(text + "\n")
            stretch = f"(Parameter.set 'Duration_Stretch {voice.stretch})"
            command = ["text2wave", "-eval", f"(voice_{voice.voice})", "-eval", stretch, str(Path(tmp) / "text.txt")]
            subprocess.run([*command, "-o", str(out)], capture_output=True, check=True)
        samples, rate = soundfile.read(io.BytesIO(out.read_bytes()), dtype="float64")
    if samples.ndim != 1 or not np.any(samples):
        raise RuntimeError(f"{voice.synthesizer} voice {voice.voice!r} produced no audio for {text!r}")
    return samples, rate


def render(voice: Voice, text: str, noise: np.random.Generator) -> np.ndarray:
    samples, rate = synthesize(voice, text)
    samples = trim_silence(resample(samples, rate, SAMPLE_RATE), SAMPLE_RATE)
    samples *= 10 ** (voice.peak_dbfs / 20) / np.abs(samples).max()
    samples += noise.normal(0.0, 10 ** (voice.noise_dbfs / 20), len(samples))
    return to_pcm16(samples)


def write_voice(voice: Voice, root: Path, seed: int) -> float:
    """One chapter of ``voice.utterances`` utterances; return its seconds."""
    texts = make_transcripts(np.random.default_rng([seed, voice.id, 0]), voice.utterances)
    noise = np.random.default_rng([seed, voice.id, 1])
    chapter = voice.id * 10 + 1
    folder = root / voice.split / str(voice.id) / str(chapter)
    folder.mkdir(parents=True)
    lines, seconds = [], 0.0
    for number, text in enumerate(texts):
        utterance_id = f"{voice.id}-{chapter}-{number:04d}"
        audio = render(voice, text, noise)
        soundfile.write(folder / f"{utterance_id}.flac", audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        lines.append(f"{utterance_id} {text.upper()}\n")
        seconds += len(audio) / SAMPLE_RATE
    (folder / f"{voice.id}-{chapter}.trans.txt").write_text("".join(lines))
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/cross_synth"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for transcripts and noise")
    parser.add_argument("--force", action="store_true", help="replace an existing <out>/LibriSpeech")
    args = parser.parse_args(argv)
    for program in ("flite", "text2wave"):
        if shutil.which(program) is None:
            sys.exit(f"error: {program} is not on PATH; install it first (Debian: apt-get install flite festival)")
    root = args.out / "LibriSpeech"
    if root.exists():
        if not args.force:
            sys.exit(f"error: {root} exists; pass --force to replace it")
        shutil.rmtree(root)
    lines = [";ID  |SEX| SUBSET |MINUTES| NAME\n"]
    for voice in VOICES:
        minutes = write_voice(voice, root, args.seed) / 60
        name = f"{voice.synthesizer} {voice.voice} stretch {voice.stretch}"
        lines.append(f"{voice.id:<5}| {voice.sex} | {voice.split:<6} | {minutes:5.2f} | {name}\n")
        print(f"{voice.id} {voice.split} {name}: {minutes * 60:.1f} s")
    (root / "SPEAKERS.TXT").write_text("".join(lines))


if __name__ == "__main__":
    main()
