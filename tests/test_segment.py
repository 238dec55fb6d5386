"""``transcribe --segment vad``: silero-vad finds the speech, cuts fall in silences, timestamps stay monotonic."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asrkit.engine.segment import WINDOW_SECONDS, Segmenter, Span, VadConfig, speech_spans
from asrkit.engine.transcribe import transcribe

DEMO_TEST = Path(__file__).resolve().parent.parent / "data" / "demo" / "LibriSpeech" / "test"


def segments(probabilities: list[float], **config: float) -> list[Span]:
    segmenter = Segmenter(VadConfig(**config))
    found = [s for p in probabilities for s in segmenter.push(p)]
    return found + segmenter.finish()


def seconds(windows: int) -> float:
    return windows * WINDOW_SECONDS


def test_a_pause_shorter_than_min_silence_does_not_cut() -> None:
    probs = [0.0] * 10 + [0.9] * 20 + [0.1] * 5 + [0.9] * 20 + [0.0] * 30
    (only,) = segments(probs, min_silence_seconds=0.3, speech_pad_seconds=0.0)
    assert only == Span(seconds(10), seconds(55))


def test_segments_are_padded_but_never_overlap() -> None:
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 12 + [0.9] * 20 + [0.0] * 5
    first, second = segments(probs, min_silence_seconds=0.3, speech_pad_seconds=0.3)
    assert first.start == pytest.approx(seconds(10) - 0.3) and first.end == pytest.approx(seconds(30) + 0.3)
    assert second.start == pytest.approx(first.end) and second.end == pytest.approx(seconds(67))


def test_long_speech_is_cut_at_its_least_speech_like_window() -> None:
    probs = [0.9] * 200
    probs[150] = 0.55  # still speech, but the weakest window of the second half
    first, second = segments(probs, max_segment_seconds=seconds(180), speech_pad_seconds=0.0)
    assert first == Span(0.0, seconds(150)) and second == Span(seconds(150), seconds(200))


def test_short_bursts_are_dropped() -> None:
    assert segments([0.0] * 10 + [0.9] * 2 + [0.0] * 20, min_speech_seconds=0.1) == []


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[tuple[float, float]]]:
    """Three demo utterances with 1 s of digital silence and 1 s of faint noise between them; their times."""
    rng = np.random.default_rng(0)
    clips = [soundfile.read(f, dtype="float32")[0] for f in sorted(DEMO_TEST.rglob("*.flac"))[:3]]
    gaps = [np.zeros(16000, np.float32), rng.normal(0, 0.002, 16000).astype(np.float32)]
    pieces, times, position = [], [], 0.0
    for clip, gap in zip(clips, [*gaps, np.zeros(0, np.float32)], strict=True):
        pieces += [clip, gap]
        times.append((position, position + len(clip) / 16000))
        position += (len(clip) + len(gap)) / 16000
    path = tmp_path_factory.mktemp("vad") / "three.flac"
    soundfile.write(path, np.concatenate(pieces), 16000)
    return str(path), times


def test_speech_spans_find_each_utterance(recording: tuple[str, list[tuple[float, float]]]) -> None:
    path, times = recording
    found = list(speech_spans(path, VadConfig(), block_seconds=1.0))  # blocks far shorter than the file
    assert len(found) == 3
    for span, (start, end) in zip(found, times, strict=True):
        assert span.start <= start + 0.1 and span.end >= end - 0.1
        assert span.end - span.start < end - start + 0.5  # the gaps are left out


def test_digital_silence_has_no_speech(tmp_path: Path) -> None:
    silent = tmp_path / "silence.wav"
    soundfile.write(silent, np.zeros(16000 * 20, np.float32), 16000)
    assert list(speech_spans(silent, VadConfig())) == []


def test_vad_transcripts_have_monotonic_times_inside_the_speech(
    recording: tuple[str, list[tuple[float, float]]], random_checkpoint: Path
) -> None:
    from asrkit.build import build
    from asrkit.engine.checkpoint import load_model
    from asrkit.registry import load_registry

    path, times = recording
    registry = load_registry()
    loaded = load_model(random_checkpoint, registry)
    decoder = build(registry, loaded.recipe.decoder, tokenizer=loaded.tokenizer)
    (result,) = transcribe(
        loaded.model, decoder, [path], sample_rate=16000, device=torch.device("cpu"), timestamps=True, segment="vad"
    )
    assert result.error is None and len(result.segments) == 3
    assert all(a.end <= b.start for a, b in itertools.pairwise(result.segments))
    starts = [w.start for w in result.words or ()]
    assert starts and starts == sorted(starts)
    for word in result.words or ():
        assert any(start - 0.2 <= word.start and word.end <= end + 0.2 for start, end in times), word


def test_cli_vad_on_digital_silence_says_nothing(random_checkpoint: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from asrkit.cli import main

    silent = tmp_path / "silence.wav"
    soundfile.write(silent, np.zeros(16000 * 40, np.float32), 16000)
    result = CliRunner().invoke(main, ["transcribe", str(random_checkpoint), str(silent), "--segment", "vad", "--json"])
    assert result.exit_code == 0, result.output
    assert '"text": ""' in result.stdout and '"segments": []' in result.stdout
