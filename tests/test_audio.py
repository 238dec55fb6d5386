"""Tests of asrkit.audio on small files written here with soundfile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from asrkit.audio import audio_duration, load_audio
from asrkit.errors import AudioError


def chirp(sample_rate: int, seconds: float, f0: float = 100.0, f1: float = 1000.0) -> np.ndarray:
    """A linear chirp: every segment is distinct, so a misplaced read is visible."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return (0.5 * np.sin(phase)).astype(np.float32)


def sine(sample_rate: int, seconds: float, freq: float) -> np.ndarray:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path: Path, data: np.ndarray, sample_rate: int, **kwargs: str) -> Path:
    soundfile.write(path, data, sample_rate, **kwargs)
    return path


def correlation(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def test_wav_16k_mono_is_read_exactly(tmp_path: Path) -> None:
    signal = chirp(16000, 1.0)
    path = write(tmp_path / "a.wav", signal, 16000, subtype="FLOAT")
    audio = load_audio(path, 16000)
    assert audio.dtype == torch.float32 and audio.shape == (16000,)
    torch.testing.assert_close(audio, torch.from_numpy(signal))


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left, right = sine(22050, 0.5, 200.0), np.full(11025, 0.25, dtype=np.float32)
    path = write(tmp_path / "s.wav", np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    audio = load_audio(path, 22050)
    torch.testing.assert_close(audio, torch.from_numpy((left + right) / 2))


def test_stereo_22050_is_downmixed_then_resampled(tmp_path: Path) -> None:
    left, right = sine(22050, 1.0, 200.0), sine(22050, 1.0, 300.0)
    path = write(tmp_path / "s.wav", np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    expected = torchaudio.functional.resample(torch.from_numpy((left + right) / 2), 22050, 16000)
    torch.testing.assert_close(load_audio(path, 16000), expected, atol=1e-5, rtol=0)


def test_resampling_keeps_length_and_a_low_sine(tmp_path: Path) -> None:
    path = write(tmp_path / "r.wav", sine(22050, 2.0, 440.0), 22050, subtype="FLOAT")
    audio = load_audio(path, 16000)
    assert audio.shape == (math.ceil(2 * 22050 * 16000 / 22050),)
    spectrum = np.abs(np.fft.rfft(audio.numpy()))
    assert np.argmax(spectrum) * 16000 / len(audio) == pytest.approx(440.0, abs=1.0)
    # Away from the edges the resampled signal is the same sine at 16 kHz.
    middle = slice(1000, -1000)
    assert correlation(audio[middle], sine(16000, 2.0, 440.0)[middle]) > 0.999


@pytest.mark.parametrize(
    ("suffix", "options", "min_correlation"),
    [
        ("flac", {}, 0.9999),
        ("ogg", {"format": "OGG", "subtype": "VORBIS"}, 0.99),
        ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}, 0.99),
    ],
)
def test_compressed_formats(tmp_path: Path, suffix: str, options: dict[str, str], min_correlation: float) -> None:
    signal = chirp(16000, 2.0)
    path = write(tmp_path / f"c.{suffix}", signal, 16000, **options)
    audio = load_audio(path, 16000)
    assert audio.shape == signal.shape
    assert correlation(audio, signal) > min_correlation
    assert audio_duration(path) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        ("wav", {"subtype": "FLOAT"}),
        ("flac", {}),
        ("ogg", {"format": "OGG", "subtype": "VORBIS"}),
        # libsndfile cannot seek in MP3 (wrong samples); load_audio must not try.
        ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
def test_offset_and_duration_read_that_segment(tmp_path: Path, suffix: str, options: dict[str, str]) -> None:
    path = write(tmp_path / f"seg.{suffix}", chirp(16000, 3.0), 16000, **options)
    whole = load_audio(path, 16000)
    segment = load_audio(path, 16000, offset=1.25, duration=0.5)
    assert segment.shape == (8000,)
    torch.testing.assert_close(segment, whole[20000:28000])


def test_duration_past_the_end_is_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", chirp(16000, 1.0), 16000)
    assert load_audio(path, 16000, offset=0.75, duration=10.0).shape == (4000,)


def test_offset_past_the_end_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", chirp(16000, 1.0), 16000)
    with pytest.raises(AudioError, match="past the end"):
        load_audio(path, 16000, offset=2.0)


def test_audio_duration_from_header(tmp_path: Path) -> None:
    path = write(tmp_path / "a.flac", chirp(22050, 1.5), 22050)
    assert audio_duration(path) == pytest.approx(1.5)


def test_empty_wav_gives_empty_tensor(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    assert load_audio(path, 16000).shape == (0,)
    assert load_audio(path, 8000).shape == (0,)
    assert audio_duration(path) == 0.0


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.flac"
    for read in (lambda: load_audio(path, 16000), lambda: audio_duration(path)):
        with pytest.raises(AudioError) as caught:
            read()
        assert str(caught.value) == f"cannot read audio {path}: file not found"


def test_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(b"this is not a wave file\n" * 10)
    for read in (lambda: load_audio(path, 16000), lambda: audio_duration(path)):
        with pytest.raises(AudioError) as caught:
            read()
        assert str(caught.value).count(str(path)) == 1  # not repeated by the reason
        assert "\n" not in str(caught.value)
        assert caught.value.reason  # libsndfile's own words, e.g. "Format not recognised."


def test_truncated_flac(tmp_path: Path) -> None:
    path = write(tmp_path / "t.flac", chirp(16000, 2.0), 16000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioError, match=str(path)):
        load_audio(path, 16000)


def test_segment_read_decodes_only_the_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "long.flac", chirp(16000, 3.0), 16000)
    requested = []
    original_read = soundfile.SoundFile.read

    def recording_read(self: soundfile.SoundFile, frames: int = -1, **kwargs: object) -> np.ndarray:
        requested.append((self.tell(), frames))
        return original_read(self, frames, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", recording_read)
    load_audio(path, 16000, offset=2.0, duration=0.25)
    assert requested == [(32000, 4000)]
