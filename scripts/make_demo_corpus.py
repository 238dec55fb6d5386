"""Regenerate the embedded demo corpus in ``data/demo/`` with espeak-ng.

The corpus is what ``recipes/mini.yaml`` trains on: small enough to commit
(about 4 MB) and easy enough that a small CTC model learns it in minutes on
a CPU. It is laid out exactly like LibriSpeech::

    <out>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac
    <out>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <out>/LibriSpeech/SPEAKERS.TXT

What it contains:

* Vocabulary: the 20 words of :data:`VOCABULARY` (the digits "zero" to
  "nine" and ten command words). Each utterance is 2 to 5 words drawn
  uniformly at random, about one second of speech.
* Speakers: the 19 synthetic voices of :data:`SPEAKERS`, each an espeak-ng
  voice and variant (``en-us+m1``, ``en-gb-scotland+f2``, ...) with its own
  speed, pitch, level and noise floor. Splits are by speaker: 14 speakers in
  ``train`` (2 chapters of 10 utterances each), 2 in ``dev`` and 3 in
  ``test`` (1 chapter of 15 utterances each). For the same size, more
  speakers with fewer utterances each generalize better to unseen voices.
* Audio: espeak-ng's 22.05 kHz output is resampled to 16 kHz, trimmed to
  50 ms of silence at each end, peak-normalised, given a little white
  noise (-62 to -52 dBFS) and quantised to 10 bits, then stored as 16-bit
  mono FLAC. The 10-bit quantisation leaves the low six bits of every
  sample zero, which FLAC stores for free: it halves the corpus, and its
  own noise (-65 dBFS) stays below the added noise.

Everything random comes from ``--seed``: transcripts depend on nothing else,
and the audio is the same bytes for the same espeak-ng build. Requires
``espeak-ng`` on PATH (Debian: ``apt-get install espeak-ng``) and the Python
packages ``numpy`` and ``soundfile``.

Usage::

    python scripts/make_demo_corpus.py [--out data/demo] [--seed 0] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 16_000
BITS = 10
TRIM_THRESHOLD_DB = -40.0
TRIM_PAD_S = 0.05
WORDS_PER_UTTERANCE = (2, 5)

VOCABULARY: tuple[str, ...] = (
    "zero", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine",
    "yes", "no", "up", "down", "left",
    "right", "stop", "go", "on", "off",
)  # fmt: skip


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an espeak-ng voice and how it is rendered."""

    id: int
    split: str
    voice: str  # espeak-ng -v; British voices are "en+variant", see below
    speed: int  # espeak-ng -s, words per minute
    pitch: int  # espeak-ng -p, 0-99
    peak_dbfs: float
    noise_dbfs: float
    chapters: int
    utterances_per_chapter: int

    @property
    def sex(self) -> str:
        return "F" if "+f" in self.voice else "M"


# "en-gb+m3" silently ignores the variant in espeak-ng 1.51 (it sounds
# exactly like "en-gb"), so British English is written "en+variant".
# check_voices() refuses any two speakers that sound the same.
SPEAKERS: tuple[Speaker, ...] = (
    Speaker(1001, "train", "en-us+m1", 160, 45, -1.0, -58.0, 2, 10),
    Speaker(1002, "train", "en-us+f2", 175, 65, -3.0, -55.0, 2, 10),
    Speaker(1003, "train", "en+m3", 150, 40, -2.0, -60.0, 2, 10),
    Speaker(1004, "train", "en+f4", 185, 70, -1.0, -54.0, 2, 10),
    Speaker(1005, "train", "en-gb-scotland+m2", 165, 35, -4.0, -57.0, 2, 10),
    Speaker(1006, "train", "en-029+f3", 170, 55, -2.0, -52.0, 2, 10),
    Speaker(1007, "train", "en-gb-x-rp+m7", 180, 50, -1.0, -62.0, 2, 10),
    Speaker(1008, "train", "en-us-nyc+klatt", 155, 50, -3.0, -56.0, 2, 10),
    Speaker(1009, "train", "en-gb-x-gbclan+f1", 190, 60, -2.0, -59.0, 2, 10),
    Speaker(1010, "train", "en-gb-x-gbcwmd+m4", 160, 45, -1.0, -53.0, 2, 10),
    Speaker(1011, "train", "en-us+m3", 185, 40, -2.0, -55.0, 2, 10),
    Speaker(1012, "train", "en-gb-x-rp+f5", 155, 75, -1.0, -60.0, 2, 10),
    Speaker(1013, "train", "en-gb-scotland+klatt2", 175, 50, -3.0, -53.0, 2, 10),
    Speaker(1014, "train", "en-029+m6", 150, 60, -1.0, -57.0, 2, 10),
    Speaker(2001, "dev", "en-us+m5", 170, 55, -2.0, -56.0, 1, 15),
    Speaker(2002, "dev", "en-gb-scotland+f2", 160, 65, -1.0, -58.0, 1, 15),
    Speaker(3001, "test", "en-us+f5", 165, 60, -2.0, -55.0, 1, 15),
    Speaker(3002, "test", "en+m6", 175, 45, -1.0, -57.0, 1, 15),
    Speaker(3003, "test", "en-029+m1", 155, 40, -3.0, -54.0, 1, 15),
)


def require_espeak() -> None:
    """Exit with a one-line message when espeak-ng is not on PATH."""
    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is not on PATH; install it first (Debian/Ubuntu: apt-get install espeak-ng)")


def synthesize(voice: str, text: str, speed: int = 175, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; return float64 mono samples and their rate."""
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch)]
    command += ["--stdout", text]
    wav = subprocess.run(command, capture_output=True, check=True).stdout
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float64")
    if samples.ndim != 1 or not np.any(samples):
        raise RuntimeError(f"espeak-ng voice {voice!r} produced no audio for {text!r}")
    return samples, rate


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Downsample by cutting the spectrum, tapered below the new Nyquist; drop DC."""
    if rate_out > rate_in:
        raise ValueError(f"only downsampling is supported, not {rate_in} -> {rate_out} Hz")
    n_out = round(len(samples) * rate_out / rate_in)
    spectrum = np.fft.rfft(samples)[: n_out // 2 + 1]
    spectrum[0] = 0.0  # espeak-ng's output has a small DC offset
    freqs = np.fft.rfftfreq(len(samples), 1.0 / rate_in)[: len(spectrum)]
    nyquist = rate_out / 2
    ramp = np.clip((freqs - 0.9 * nyquist) / (0.1 * nyquist), 0.0, 1.0)
    spectrum *= 0.5 * (1.0 + np.cos(np.pi * ramp))
    return np.fft.irfft(spectrum, n_out) * (n_out / len(samples))


def trim_silence(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``TRIM_PAD_S`` on each side."""
    threshold = np.abs(samples).max() * 10 ** (TRIM_THRESHOLD_DB / 20)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    pad = round(TRIM_PAD_S * rate)
    return samples[max(loud[0] - pad, 0) : loud[-1] + pad + 1]


def to_pcm16(samples: np.ndarray, bits: int = BITS) -> np.ndarray:
    """Round to ``bits`` significant bits and return int16 (low bits zero)."""
    top = 2 ** (bits - 1)
    levels = np.clip(np.round(samples * top), -top, top - 1).astype(np.int16)
    return levels * np.int16(2 ** (16 - bits))


def render(speaker: Speaker, text: str, noise: np.random.Generator) -> np.ndarray:
    """The finished int16 waveform of one utterance at ``SAMPLE_RATE``."""
    samples, rate = synthesize(speaker.voice, text, speaker.speed, speaker.pitch)
    samples = trim_silence(resample(samples, rate, SAMPLE_RATE), SAMPLE_RATE)
    samples *= 10 ** (speaker.peak_dbfs / 20) / np.abs(samples).max()
    samples += noise.normal(0.0, 10 ** (speaker.noise_dbfs / 20), len(samples))
    return to_pcm16(samples)


def make_transcripts(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` random word sequences from :data:`VOCABULARY`."""
    low, high = WORDS_PER_UTTERANCE
    return [" ".join(rng.choice(VOCABULARY, size=rng.integers(low, high + 1))) for _ in range(count)]


def check_voices(speakers: Sequence[Speaker]) -> None:
    """Fail when a voice makes no audio or two speakers sound identical."""
    seen: dict[str, Speaker] = {}
    for speaker in speakers:
        samples, _ = synthesize(speaker.voice, "seven", speaker.speed, speaker.pitch)
        digest = hashlib.sha256(samples.tobytes()).hexdigest()
        if digest in seen:
            other = seen[digest]
            raise RuntimeError(f"speakers {other.id} and {speaker.id} sound identical")
        seen[digest] = speaker


def write_speaker(speaker: Speaker, root: Path, seed: int) -> list[float]:
    """Write all chapters of one speaker; return the utterance durations (s)."""
    count = speaker.chapters * speaker.utterances_per_chapter
    texts = make_transcripts(np.random.default_rng([seed, speaker.id, 0]), count)
    noise = np.random.default_rng([seed, speaker.id, 1])
    durations = []
    for chapter_index in range(speaker.chapters):
        chapter = speaker.id * 10 + chapter_index + 1
        folder = root / speaker.split / str(speaker.id) / str(chapter)
        folder.mkdir(parents=True)
        lines = []
        start = chapter_index * speaker.utterances_per_chapter
        for number, text in enumerate(texts[start : start + speaker.utterances_per_chapter]):
            utterance_id = f"{speaker.id}-{chapter}-{number:04d}"
            audio = render(speaker, text, noise)
            path = folder / f"{utterance_id}.flac"
            soundfile.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16", compression_level=1.0)
            lines.append(f"{utterance_id} {text.upper()}\n")
            durations.append(len(audio) / SAMPLE_RATE)
        (folder / f"{speaker.id}-{chapter}.trans.txt").write_text("".join(lines))
    return durations


def write_speakers_txt(root: Path, minutes: dict[int, float]) -> None:
    """A SPEAKERS.TXT in LibriSpeech's format, naming each speaker's voice."""
    lines = [";ID  |SEX| SUBSET |MINUTES| NAME\n"]
    for s in SPEAKERS:
        name = f"espeak-ng {s.voice} -s {s.speed} -p {s.pitch}"
        lines.append(f"{s.id:<5}| {s.sex} | {s.split:<6} | {minutes[s.id]:5.2f} | {name}\n")
    (root / "SPEAKERS.TXT").write_text("".join(lines))


def print_stats(durations: dict[int, list[float]]) -> None:
    """Per-split speakers, utterances and seconds, as a Markdown table."""
    print("| split | speakers | utterances | seconds | mean s |")
    print("|---|---|---|---|---|")
    for split in ("train", "dev", "test"):
        spk = [s.id for s in SPEAKERS if s.split == split]
        utts = [d for i in spk for d in durations[i]]
        total = sum(utts)
        mean = total / len(utts)
        print(f"| {split} | {len(spk)} | {len(utts)} | {total:.1f} | {mean:.2f} |")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed for transcripts and noise")
    parser.add_argument("--force", action="store_true", help="replace an existing <out>/LibriSpeech")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    require_espeak()
    root = args.out / "LibriSpeech"
    if root.exists():
        if not args.force:
            sys.exit(f"error: {root} exists; pass --force to replace it")
        shutil.rmtree(root)
    check_voices(SPEAKERS)
    durations = {s.id: write_speaker(s, root, args.seed) for s in SPEAKERS}
    write_speakers_txt(root, {i: sum(d) / 60 for i, d in durations.items()})
    print_stats(durations)


if __name__ == "__main__":
    main()
