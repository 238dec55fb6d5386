"""Regenerate the audio fixtures of the unit tests in ``tests/fixtures/audio/``.

One espeak-ng utterance of the word "yes" (voice ``en-us``, about 0.4 s,
trimmed, peak at -3 dBFS) is written in the formats and layouts that
:mod:`asrkit.audio` has to read:

* ``speech_16k_mono.wav``: 16 kHz mono 16-bit PCM WAV.
* ``speech_22k_stereo.wav``: espeak-ng's own 22.05 kHz, two different
  channels: the speech on the left, a 440 Hz sine at 0.25 on the right.
* ``speech_16k.flac``, ``speech_16k.ogg`` (Vorbis), ``speech_16k.mp3``:
  the 16 kHz mono speech in the compressed formats.
* ``corrupt.flac``: the FLAC file with its header and metadata intact and
  random bytes where the audio frames should be.
* ``empty.wav``: a valid 16 kHz mono WAV with zero samples.

Requires ``espeak-ng`` on PATH and ``soundfile`` with libsndfile >= 1.1
(for MP3). The random bytes of ``corrupt.flac`` come from a fixed seed.

Usage::

    python scripts/make_test_audio.py [--out tests/fixtures/audio]
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile
from make_demo_corpus import require_espeak, resample, synthesize, to_pcm16, trim_silence

TEXT = "yes"
VOICE = "en-us"
RATE = 16_000
PEAK = 10 ** (-3 / 20)
SEED = 0


def speech_22k() -> tuple[np.ndarray, int]:
    """The trimmed, normalised utterance at espeak-ng's native rate."""
    samples, rate = synthesize(VOICE, TEXT)
    samples = trim_silence(samples - samples.mean(), rate)
    return samples * (PEAK / np.abs(samples).max()), rate


def stereo(speech: np.ndarray, rate: int) -> np.ndarray:
    """Speech on the left channel, a 440 Hz sine on the right: ``(S, 2)``."""
    tone = 0.25 * np.sin(2 * np.pi * 440.0 * np.arange(len(speech)) / rate)
    return np.stack([speech, tone], axis=1)


def flac_frames_offset(data: bytes) -> int:
    """Where the audio frames start: after "fLaC" and every metadata block."""
    if data[:4] != b"fLaC":
        raise ValueError("not a FLAC stream")
    offset, last = 4, False
    while not last:
        last = bool(data[offset] & 0x80)
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
    return offset


def corrupt_flac(speech: np.ndarray) -> bytes:
    """A FLAC whose header and metadata are intact and whose frames are random bytes."""
    buffer = io.BytesIO()
    soundfile.write(buffer, speech, RATE, format="FLAC", subtype="PCM_16")
    data = buffer.getvalue()
    start = flac_frames_offset(data)
    garbage = np.random.default_rng(SEED).integers(0, 256, len(data) - start, dtype=np.uint8)
    return data[:start] + garbage.tobytes()


def write_fixtures(out: Path) -> None:
    speech, rate = speech_22k()
    speech_16k = to_pcm16(resample(speech, rate, RATE), bits=16)
    out.mkdir(parents=True, exist_ok=True)
    soundfile.write(out / "speech_16k_mono.wav", speech_16k, RATE, subtype="PCM_16")
    soundfile.write(out / "speech_22k_stereo.wav", to_pcm16(stereo(speech, rate), bits=16), rate, subtype="PCM_16")
    soundfile.write(out / "speech_16k.flac", speech_16k, RATE, subtype="PCM_16")
    soundfile.write(out / "speech_16k.ogg", speech_16k, RATE, format="OGG", subtype="VORBIS")
    soundfile.write(out / "speech_16k.mp3", speech_16k, RATE, format="MP3", subtype="MPEG_LAYER_III")
    (out / "corrupt.flac").write_bytes(corrupt_flac(speech_16k))
    soundfile.write(out / "empty.wav", np.zeros(0, dtype=np.int16), RATE, subtype="PCM_16")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/audio"), help="output folder")
    args = parser.parse_args(argv)
    require_espeak()
    write_fixtures(args.out)


if __name__ == "__main__":
    main()
